package main

import (
	"testing"

	"github.com/cofferhq/coffer/pkg/configref"
)

// TestConfigReference: the README's configuration table lists exactly the variables the
// auth service's loader reads, the key-encryption key (and its _FILE) included.
func TestConfigReference(t *testing.T) {
	read := map[string]bool{}
	loadConfig(configref.Recorder(read, nil), true) //nolint:errcheck // only the names read matter
	configref.Check(t, "../../../../README.md", "auth", read)
	configref.CheckDefaults(t, "../../../../README.md", "auth",
		map[string]string{"COFFER_AUTH_DATABASE_URL": "postgres://db/auth", "COFFER_AUTH_KEK": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="},
		func(getenv func(string) string) (config, error) { return loadConfig(getenv, true) })
}
