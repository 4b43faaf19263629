package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFeatureConfig covers the settings of quotas, signed links and upload idle time.
func TestFeatureConfig(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	b64 := base64.StdEncoding.EncodeToString(key)
	keyFile := filepath.Join(t.TempDir(), "link-key")
	if err := os.WriteFile(keyFile, []byte(b64+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{"defaults", nil, "", func(t *testing.T, c config) {
			if c.UploadExpiry != 24*time.Hour {
				t.Errorf("upload expiry default = %v", c.UploadExpiry)
			}
			if c.UserQuota != 0 || c.LinkKey != nil || c.LinkMaxTTL != 7*24*time.Hour || c.UploadIdle != time.Minute || c.PublicURL != "" {
				t.Errorf("defaults: quota %d, key %v, max ttl %v, idle %v, public %q", c.UserQuota, c.LinkKey, c.LinkMaxTTL, c.UploadIdle, c.PublicURL)
			}
		}},
		{"quota with suffix", map[string]string{"COFFER_FILES_USER_QUOTA": "10G"}, "", func(t *testing.T, c config) {
			if c.UserQuota != 10<<30 {
				t.Errorf("quota = %d", c.UserQuota)
			}
		}},
		{"link key", map[string]string{"COFFER_FILES_LINK_KEY": b64}, "", func(t *testing.T, c config) {
			if !bytes.Equal(c.LinkKey, key) {
				t.Errorf("key = %x", c.LinkKey)
			}
		}},
		{"link key file", map[string]string{"COFFER_FILES_LINK_KEY_FILE": keyFile}, "", func(t *testing.T, c config) {
			if !bytes.Equal(c.LinkKey, key) {
				t.Errorf("key = %x", c.LinkKey)
			}
		}},
		{"public url", map[string]string{"COFFER_FILES_PUBLIC_URL": "https://files.example.com/"}, "", func(t *testing.T, c config) {
			if c.PublicURL != "https://files.example.com" {
				t.Errorf("public url = %q", c.PublicURL)
			}
		}},
		{"negative quota", map[string]string{"COFFER_FILES_USER_QUOTA": "-1"}, "COFFER_FILES_USER_QUOTA", nil},
		{"short link key", map[string]string{"COFFER_FILES_LINK_KEY": base64.StdEncoding.EncodeToString(key[:31])}, "COFFER_FILES_LINK_KEY", nil},
		{"link key not base64", map[string]string{"COFFER_FILES_LINK_KEY": "not base64 at all!"}, "COFFER_FILES_LINK_KEY", nil},
		{"both link key forms", map[string]string{"COFFER_FILES_LINK_KEY": b64, "COFFER_FILES_LINK_KEY_FILE": keyFile}, "COFFER_FILES_LINK_KEY", nil},
		{"public url not http", map[string]string{"COFFER_FILES_PUBLIC_URL": "ftp://x"}, "COFFER_FILES_PUBLIC_URL", nil},
		{"idle too short", map[string]string{"COFFER_FILES_UPLOAD_IDLE_TIMEOUT": "1ms"}, "COFFER_FILES_UPLOAD_IDLE_TIMEOUT", nil},
		{"upload expiry", map[string]string{"COFFER_FILES_UPLOAD_EXPIRY": "2h"}, "", func(t *testing.T, c config) {
			if c.UploadExpiry != 2*time.Hour {
				t.Errorf("upload expiry = %v", c.UploadExpiry)
			}
		}},
		{"upload expiry too short", map[string]string{"COFFER_FILES_UPLOAD_EXPIRY": "10ms"}, "COFFER_FILES_UPLOAD_EXPIRY", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"COFFER_FILES_DATABASE_URL": "postgres://x/y"}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := loadConfig(func(k string) string { return env[k] }, os.ReadFile)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one naming %s", err, tc.wantErr)
			case tc.check != nil:
				tc.check(t, c)
			}
		})
	}
}
