package main

import (
	"os"
	"testing"

	"github.com/cofferhq/coffer/pkg/configref"
)

// TestConfigReference: the README's configuration table lists exactly the variables the
// file service's loader reads, on every path (disk and s3 storage, secrets and their _FILE).
func TestConfigReference(t *testing.T) {
	read := map[string]bool{}
	for _, env := range []map[string]string{
		{},
		{"COFFER_FILES_STORAGE": "s3", "COFFER_FILES_S3_BUCKET": "b"},
	} {
		loadConfig(configref.Recorder(read, env), os.ReadFile) //nolint:errcheck // only the names read matter
	}
	configref.Check(t, "../../../../README.md", "files", read)
}
