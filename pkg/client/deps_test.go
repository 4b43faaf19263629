package client_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestLightDependencies fails when the client library's module requires any other module:
// a user who go-gets github.com/cofferhq/coffer/pkg/client pulls in the standard library only.
// The CLI, which needs cobra and mpb, is a module of its own (cmd/coffer) with its own check.
func TestLightDependencies(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gobin, "mod", "edit", "-json").Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	var mod struct {
		Module  struct{ Path string }
		Require []struct{ Path, Version string }
		Replace []struct{ Old struct{ Path string } }
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	if got, want := mod.Module.Path, "github.com/cofferhq/coffer/pkg/client"; got != want {
		t.Fatalf("module path = %q, want %q: the check would prove nothing", got, want)
	}
	for _, r := range mod.Require {
		t.Errorf("pkg/client's go.mod requires %s %s; the client library must need the standard library only", r.Path, r.Version)
	}
	for _, r := range mod.Replace {
		t.Errorf("pkg/client's go.mod replaces %s; it must need nothing to replace", r.Old.Path)
	}

	// The module graph as a user sees it (outside the workspace) is the module alone, and
	// every package the library and its tests import comes from the standard library.
	cmd := exec.Command(gobin, "list", "-m", "all")
	cmd.Env = append(cmd.Environ(), "GOWORK=off")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, out)
	}
	if got := strings.Fields(strings.TrimSpace(string(out))); len(got) != 1 || got[0] != mod.Module.Path {
		t.Errorf("go list -m all (GOWORK=off) = %q, want only %s", got, mod.Module.Path)
	}
	cmd = exec.Command(gobin, "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	// Lines name the module's own packages, possibly as test variants ("p [p.test]").
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, mod.Module.Path) {
			t.Errorf("the client library (or its tests) imports %s, which is not in the standard library", l)
		}
	}
}
