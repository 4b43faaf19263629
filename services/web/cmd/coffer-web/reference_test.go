package main

import (
	"testing"

	"github.com/cofferhq/coffer/pkg/configref"
)

// TestConfigReference: the README's configuration table lists exactly the variables the web
// service's loader reads, with the defaults the loader applies.
func TestConfigReference(t *testing.T) {
	read := map[string]bool{}
	loadConfig(configref.Recorder(read, nil)) //nolint:errcheck // only the names read matter
	configref.Check(t, "../../../../README.md", "web", read)
	configref.CheckDefaults(t, "../../../../README.md", "web", nil, loadConfig)
}
