package e2e_test

import (
	"bufio"
	"bytes"
	"net/http"
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
// It also sets two file-service variables by hand, as an operator would, and checks they reach
// the service: a 1M size limit refuses a 2 MB upload, and metrics are served where asked.
func TestLocalRunnerAndREADME(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing (apt-get install curl): the README's walk-through cannot be run")
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

	authAddr, filesAddr, webAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	runDir := runnerDir(t)
	cmd := exec.Command(runner, "-dir", runDir, "-auth", bins.Auth, "-files", bins.Files, "-web", bins.Web)
	cmd.Env = append(os.Environ(), "COFFER_AUTH_ADDR="+authAddr, "COFFER_FILES_ADDR="+filesAddr, "COFFER_WEB_ADDR="+webAddr, "DATABASE_URL=",
		"COFFER_FILES_MAX_FILE_SIZE=1M", "COFFER_FILES_METRICS_ADDR="+metricsAddr)
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
	for _, want := range []string{"http://" + authAddr, "http://" + filesAddr, "http://" + webAddr,
		"files metrics: http://" + metricsAddr, "COFFER_FILES_MAX_FILE_SIZE=1M"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("runner output does not print %s:\n%s", want, out.String())
		}
	}

	// The variables set by hand reached the file service.
	c := &client{t: t, http: &http.Client{Timeout: 30 * time.Second}, auth: "http://" + authAddr, files: "http://" + filesAddr}
	tok := c.signUp("runner-limits")
	big := c.do("POST", c.files+"/v1/files?name=big.bin", bytes.NewReader(make([]byte, 2<<20)),
		with(tok, map[string]string{"Content-Type": "application/octet-stream"}))
	expectProblem(t, "2 MB upload under COFFER_FILES_MAX_FILE_SIZE=1M", big, http.StatusRequestEntityTooLarge, "file_too_large")
	m := c.do("GET", "http://"+metricsAddr+"/metrics", nil, nil)
	if m.Status != http.StatusOK || !strings.Contains(string(m.Body), "coffer_files_") {
		t.Fatalf("GET metrics at COFFER_FILES_METRICS_ADDR: %d\n%.300s", m.Status, m.Body)
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

// TestLocalRunnerSaysWhichServiceStopped starts the runner with a setting the file service
// refuses: the runner must name the service, its exit status and the setting, not "<nil>".
func TestLocalRunnerSaysWhichServiceStopped(t *testing.T) {
	t.Parallel()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	runner := filepath.Join(t.TempDir(), "coffer-dev")
	build := exec.Command("go", "build", "-o", runner, "./e2e/cmd/coffer-dev")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build runner: %v\n%s", err, out)
	}
	runDir := runnerDir(t)
	cmd := exec.Command(runner, "-dir", runDir, "-auth", bins.Auth, "-files", bins.Files, "-web", bins.Web)
	cmd.Env = append(os.Environ(), "COFFER_AUTH_ADDR="+freeAddr(t), "COFFER_FILES_ADDR="+freeAddr(t), "COFFER_WEB_ADDR="+freeAddr(t),
		"DATABASE_URL=", "COFFER_FILES_USER_QUOTA=-5")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("runner succeeded with a refused setting:\n%s", out)
	}
	for _, want := range []string{"file service stopped: exited with status 1", "COFFER_FILES_USER_QUOTA"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("runner output lacks %q:\n%s", want, out)
		}
	}
	if pids := processesMentioning(t, runDir); len(pids) > 0 {
		t.Fatalf("processes left behind: %v", pids)
	}
}

// runnerDir makes a run folder the postgres user can reach (t.TempDir is private to root).
func runnerDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "coffer-run-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
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
