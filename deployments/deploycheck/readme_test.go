package deploycheck_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var envName = regexp.MustCompile("`((?:COFFER_[A-Z0-9_]+)|DATABASE_URL)`")

// documentedEnv returns the variables the README's configuration table lists (the first
// column of rows whose second column names a service).
func documentedEnv(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[2], "auth") && !strings.Contains(cells[2], "files") && !strings.Contains(cells[2], "web") {
			continue
		}
		for _, m := range envName.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = true
		}
	}
	if len(out) < 20 {
		t.Fatalf("found %d variables in the README's configuration table; is it there?", len(out))
	}
	return out
}
