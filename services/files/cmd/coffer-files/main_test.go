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
		"COFFER_FILES_MAX_FILE_SIZE": "lots",
		"COFFER_FILES_JWKS_URL":      "ftp://auth/jwks",
		"COFFER_FILES_CLOCK_LEEWAY":  "1h",
	}), &out, &out)
	if err == nil {
		t.Fatal("run accepted a bad configuration")
	}
	for _, name := range []string{"COFFER_FILES_DATABASE_URL", "COFFER_FILES_MAX_FILE_SIZE", "COFFER_FILES_JWKS_URL", "COFFER_FILES_CLOCK_LEEWAY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestRunRejectsUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"explode"}, env(nil), &out, &out); err == nil {
		t.Fatal("run accepted an unknown command")
	}
}
