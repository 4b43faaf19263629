package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/e2e/harness"
)

// TestVersionStampedByMakefile builds a binary with the Makefile's own -X flag and a made-up
// release: `version` must print it (a moved variable would silently leave every build "devel").
func TestVersionStampedByMakefile(t *testing.T) {
	t.Parallel()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS := -X (\S+)=\$\(VERSION\)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile has no `LDFLAGS := -X <package>.<var>=$(VERSION)` line")
	}
	bin := filepath.Join(t.TempDir(), "coffer-web")
	build := exec.Command("go", "build", "-ldflags", "-X "+string(m[1])+"=v9.8.7-test", "-o", bin, "./services/web/cmd/coffer-web")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "coffer-web v9.8.7-test ") {
		t.Fatalf("coffer-web version = %q, %v; want the stamped v9.8.7-test", out, err)
	}
}

// binaryVersion is the version a built binary's `version` command prints.
func binaryVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 || f[0] != filepath.Base(bin) {
		t.Fatalf("%s version printed %q, want NAME VERSION GO", bin, out)
	}
	return f[1]
}
