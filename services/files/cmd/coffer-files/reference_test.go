package main

import (
	"os"
	"testing"

	"github.com/cofferhq/coffer/pkg/configref"
)

// TestConfigReference: the README's configuration table lists exactly the variables the
// file service's loader reads, on every path (disk and s3 storage, secrets and their _FILE),
// with the defaults the loader applies.
func TestConfigReference(t *testing.T) {
	read := map[string]bool{}
	for _, env := range []map[string]string{
		{},
		{"COFFER_FILES_STORAGE": "s3", "COFFER_FILES_S3_BUCKET": "b"},
	} {
		loadConfig(configref.Recorder(read, env), os.ReadFile) //nolint:errcheck // only the names read matter
	}
	configref.Check(t, "../../../../README.md", "files", read)
	load := func(getenv func(string) string) (config, error) { return loadConfig(getenv, os.ReadFile) }
	configref.CheckDefaults(t, "../../../../README.md", "files", map[string]string{"COFFER_FILES_DATABASE_URL": "postgres://db/files"}, load)
	configref.CheckDefaults(t, "../../../../README.md", "files", map[string]string{"COFFER_FILES_DATABASE_URL": "postgres://db/files", "COFFER_FILES_STORAGE": "s3", "COFFER_FILES_S3_BUCKET": "b"}, load)
}
