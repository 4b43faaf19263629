package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestCORSOriginsConfig(t *testing.T) {
	base := map[string]string{"COFFER_FILES_DATABASE_URL": "postgres://x"}
	tests := []struct {
		value   string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"https://app.example.com", []string{"https://app.example.com"}, false},
		{" https://App.Example.com/ , http://127.0.0.1:8083", []string{"https://app.example.com", "http://127.0.0.1:8083"}, false},
		{"*", nil, true},
		{"null", nil, true},
		{"https://app.example.com/path", nil, true},
		{"app.example.com", nil, true},
		{"ftp://app.example.com", nil, true},
		{"https://user@app.example.com", nil, true},
	}
	for _, tt := range tests {
		env := map[string]string{"COFFER_FILES_CORS_ORIGINS": tt.value}
		for k, v := range base {
			env[k] = v
		}
		c, err := loadConfig(func(k string) string { return env[k] }, os.ReadFile)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "COFFER_FILES_CORS_ORIGINS") {
				t.Errorf("%q: got err %v, want one naming COFFER_FILES_CORS_ORIGINS", tt.value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.value, err)
			continue
		}
		if !slices.Equal(c.CORSOrigins, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.value, c.CORSOrigins, tt.want)
		}
	}
}
