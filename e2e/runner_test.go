package e2e_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
)

// TestLocalRunnerAndREADME runs what a newcomer runs: the `make run` runner (coffer-dev) with
// its own throwaway PostgreSQL, then the README's curl walk-through exactly as written (only
// the two addresses changed to free ports), then Ctrl-C, which must leave no process behind.
func TestLocalRunnerAndREADME(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	runner := filepath.Join(binDir, "coffer-dev")
	build := exec.Command("go", "build", "-o", runner, "./e2e/cmd/coffer-dev")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build runner: %v\n%s", err, out)
	}

	authAddr, filesAddr, webAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	// The postgres user must reach the run folder (t.TempDir is private to root).
	runDir, err := os.MkdirTemp("", "coffer-run-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(runDir, 0o755)
	t.Cleanup(func() { os.RemoveAll(runDir) })
	cmd := exec.Command(runner, "-dir", runDir, "-auth", bins.Auth, "-files", bins.Files, "-web", bins.Web)
	cmd.Env = append(os.Environ(), "COFFER_AUTH_ADDR="+authAddr, "COFFER_FILES_ADDR="+filesAddr, "COFFER_WEB_ADDR="+webAddr, "DATABASE_URL=")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })

	var out strings.Builder
	deadline := time.After(2 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("runner exited before it was ready:\n%s", out.String())
			}
			out.WriteString(l + "\n")
			if strings.Contains(l, "Press Ctrl-C") {
				break wait
			}
		case <-deadline:
			t.Fatalf("runner not ready:\n%s", out.String())
		}
	}
	for _, want := range []string{"http://" + authAddr, "http://" + filesAddr, "http://" + webAddr} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("runner output does not print %s:\n%s", want, out.String())
		}
	}

	// The README's walk-through, as written.
	script := readmeScript(t, filepath.Join(root, "README.md"))
	script = strings.Replace(script, "http://127.0.0.1:8081", "http://"+authAddr, 1)
	script = strings.Replace(script, "http://127.0.0.1:8082", "http://"+filesAddr, 1)
	work := t.TempDir()
	sh := exec.Command("bash", "-euo", "pipefail", "-c", script)
	sh.Dir = work
	got, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("README commands failed: %v\n%s", err, got)
	}
	downloaded, err := os.ReadFile(filepath.Join(work, "downloaded.txt"))
	if err != nil || string(downloaded) != "hello, coffer\n" {
		t.Fatalf("downloaded.txt = %q, %v; want the uploaded text", downloaded, err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(got)), "204") {
		t.Fatalf("README delete did not print 204:\n%s", got)
	}

	// Ctrl-C stops everything.
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("runner exit: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("runner did not stop on SIGINT")
	}
	// No server still holds the run folder's cluster.
	if pids := processesMentioning(t, runDir); len(pids) > 0 {
		t.Fatalf("processes left behind after Ctrl-C: %v", pids)
	}
}

// readmeScript returns the shell block of the README's "Try it" section.
func readmeScript(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## Try it")
	if i < 0 {
		t.Fatal("README has no '## Try it' section")
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	end := strings.Index(s[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("README's Try it section has no sh block")
	}
	return s[start+6 : start+6+end]
}

// processesMentioning lists pids whose command line mentions s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) {
			pids = append(pids, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return pids
}
