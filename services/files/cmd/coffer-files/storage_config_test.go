package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorageConfig(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"COFFER_FILES_DATABASE_URL": "postgres://x/y"}
	s3env := map[string]string{
		"COFFER_FILES_STORAGE": "s3", "COFFER_FILES_S3_BUCKET": "b",
		"COFFER_FILES_S3_ACCESS_KEY": "ak", "COFFER_FILES_S3_SECRET_KEY": "sk",
	}
	tests := []struct {
		name    string
		env     []map[string]string
		wantErr string // substring naming the bad setting; empty for success
		check   func(t *testing.T, c config)
	}{
		{"default is disk", nil, "", func(t *testing.T, c config) {
			if c.Storage != "disk" || c.GCInterval.Hours() != 1 || c.GCGrace.Hours() != 1 || c.GCIncompleteAge.Hours() != 24 {
				t.Errorf("defaults = %q %v %v %v", c.Storage, c.GCInterval, c.GCGrace, c.GCIncompleteAge)
			}
		}},
		{"s3", []map[string]string{s3env, {"COFFER_FILES_S3_ENDPOINT": "http://127.0.0.1:9000/"}}, "", func(t *testing.T, c config) {
			if c.S3.Endpoint != "http://127.0.0.1:9000" || c.S3.Region != "us-east-1" || c.S3.PartSize != 5<<20 || c.S3.AccessKey != "ak" {
				t.Errorf("s3 = %+v", c.S3)
			}
		}},
		{"secret from file", []map[string]string{s3env, {"COFFER_FILES_S3_SECRET_KEY": "", "COFFER_FILES_S3_SECRET_KEY_FILE": secretFile}}, "", func(t *testing.T, c config) {
			if c.S3.SecretKey != "from-file" {
				t.Errorf("SecretKey = %q, want from-file", c.S3.SecretKey)
			}
		}},
		{"secret twice", []map[string]string{s3env, {"COFFER_FILES_S3_SECRET_KEY_FILE": secretFile}}, "COFFER_FILES_S3_SECRET_KEY", nil},
		{"unreadable secret file", []map[string]string{s3env, {"COFFER_FILES_S3_SECRET_KEY": "", "COFFER_FILES_S3_SECRET_KEY_FILE": "/nonexistent"}}, "COFFER_FILES_S3_SECRET_KEY_FILE", nil},
		{"no bucket", []map[string]string{s3env, {"COFFER_FILES_S3_BUCKET": ""}}, "COFFER_FILES_S3_BUCKET", nil},
		{"no access key", []map[string]string{s3env, {"COFFER_FILES_S3_ACCESS_KEY": ""}}, "COFFER_FILES_S3_ACCESS_KEY", nil},
		{"bad endpoint", []map[string]string{s3env, {"COFFER_FILES_S3_ENDPOINT": "ftp://x"}}, "COFFER_FILES_S3_ENDPOINT", nil},
		{"small parts", []map[string]string{s3env, {"COFFER_FILES_S3_PART_SIZE": "1M"}}, "COFFER_FILES_S3_PART_SIZE", nil},
		{"unknown storage", []map[string]string{{"COFFER_FILES_STORAGE": "tape"}}, "COFFER_FILES_STORAGE", nil},
		{"bad gc interval", []map[string]string{{"COFFER_FILES_GC_INTERVAL": "soon"}}, "COFFER_FILES_GC_INTERVAL", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for _, m := range append([]map[string]string{base}, tt.env...) {
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
			tt.check(t, c)
		})
	}
}
