package main

import (
	"os"
	"strings"
	"testing"
)

// TestS3ChainAndSSEConfig: with no static keys the S3 settings are valid (the AWS default
// chain supplies credentials); half a key pair, an unknown SSE or a KMS key without aws:kms
// is refused, naming the setting; and the metrics address is read.
func TestS3ChainAndSSEConfig(t *testing.T) {
	base := map[string]string{"COFFER_FILES_DATABASE_URL": "postgres://x/y", "COFFER_FILES_STORAGE": "s3", "COFFER_FILES_S3_BUCKET": "b"}
	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(c config) bool
	}{
		{"default chain", nil, "", func(c config) bool { return c.S3.AccessKey == "" && c.S3.SecretKey == "" }},
		{"secret without access key", map[string]string{"COFFER_FILES_S3_SECRET_KEY": "s"}, "COFFER_FILES_S3_ACCESS_KEY", nil},
		{"access key without secret", map[string]string{"COFFER_FILES_S3_ACCESS_KEY": "a"}, "COFFER_FILES_S3_SECRET_KEY", nil},
		{"sse s3", map[string]string{"COFFER_FILES_S3_SSE": "AES256"}, "", func(c config) bool { return c.S3.SSE == "AES256" }},
		{"sse kms", map[string]string{"COFFER_FILES_S3_SSE": "aws:kms", "COFFER_FILES_S3_SSE_KMS_KEY_ID": "alias/x"}, "", func(c config) bool {
			return c.S3.SSE == "aws:kms" && c.S3.KMSKeyID == "alias/x"
		}},
		{"unknown sse", map[string]string{"COFFER_FILES_S3_SSE": "rot13"}, "COFFER_FILES_S3_SSE", nil},
		{"kms key without kms", map[string]string{"COFFER_FILES_S3_SSE": "AES256", "COFFER_FILES_S3_SSE_KMS_KEY_ID": "k"}, "COFFER_FILES_S3_SSE_KMS_KEY_ID", nil},
		{"metrics", map[string]string{"COFFER_FILES_METRICS_ADDR": "127.0.0.1:9090"}, "", func(c config) bool { return c.MetricsAddr == "127.0.0.1:9090" }},
		{"redirect off by default", nil, "", func(c config) bool { return !c.S3.Redirect }},
		{"redirect", map[string]string{"COFFER_FILES_S3_REDIRECT": "true"}, "", func(c config) bool { return c.S3.Redirect }},
		{"redirect on disk", map[string]string{"COFFER_FILES_STORAGE": "disk", "COFFER_FILES_S3_REDIRECT": "true"}, "COFFER_FILES_S3_REDIRECT", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for _, m := range []map[string]string{base, tt.env} {
				for k, v := range m {
					env[k] = v
				}
			}
			c, err := loadConfig(func(k string) string { return env[k] }, os.ReadFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}
