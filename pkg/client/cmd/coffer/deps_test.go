package main

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are the dependencies the CLI must never pull in: the services' web framework,
// database driver and cloud SDK, and the server-side modules of this repository.
var forbidden = []string{
	"github.com/gin-gonic/",
	"github.com/jackc/",
	"github.com/aws/",
	"github.com/cofferhq/coffer/pkg ",
	"github.com/cofferhq/coffer/pkg/pgtest",
	"github.com/cofferhq/coffer/services/",
}

// TestLightDependencies fails when the CLI module depends, even indirectly, on anything in
// forbidden: by package (go list -deps) and by module graph (go list -m all, outside the
// workspace, as a user who installs the module sees it).
func TestLightDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"list", "-deps", "./..."},
		{"list", "-deps", "-test", "./..."},
		{"list", "-m", "all"},
	} {
		cmd := exec.Command(gobin, args...)
		if args[1] == "-m" {
			cmd.Env = append(cmd.Environ(), "GOWORK=off")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) < 5 {
			t.Fatalf("go %s listed only %d lines; the check would prove nothing:\n%s", strings.Join(args, " "), len(lines), out)
		}
		for _, l := range lines {
			for _, f := range forbidden {
				if strings.HasPrefix(l+" ", f) {
					t.Errorf("go %s: the CLI depends on %s", strings.Join(args, " "), l)
				}
			}
		}
	}
}
