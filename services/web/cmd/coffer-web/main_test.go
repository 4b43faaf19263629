package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestRunRejectsBadConfigurationNamingEachSetting(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), nil, env(map[string]string{
		"COFFER_WEB_AUTH_URL":  "javascript:alert(1)",
		"COFFER_WEB_FILES_URL": "https://files.example.com; script-src *",
		"COFFER_WEB_CLIENT_ID": "a b",
		"COFFER_WEB_LOG_LEVEL": "loud",
	}), &out, &out)
	if err == nil {
		t.Fatal("run accepted a bad configuration")
	}
	for _, name := range []string{"COFFER_WEB_AUTH_URL", "COFFER_WEB_FILES_URL", "COFFER_WEB_CLIENT_ID", "COFFER_WEB_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8083" || c.AuthURL != "http://localhost:8081" || c.FilesURL != "http://localhost:8082" || c.ClientID != "coffer-web" || c.Scope != "files:read files:write files:share" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestRunRejectsUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"explode"}, env(nil), &out, &out); err == nil {
		t.Fatal("run accepted an unknown command")
	}
}
