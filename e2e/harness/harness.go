// Package harness builds Coffer's binaries and runs them as real processes on free ports. The
// end-to-end tests and the local runner (`make run`) both use it.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries are the paths of the built service binaries.
type Binaries struct {
	Auth  string
	Files string
	Web   string
}

// RepoRoot finds the workspace root (the folder holding go.work) from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: go.work not found above the working directory")
		}
		dir = parent
	}
}

// Build compiles the services into dir.
func Build(ctx context.Context, dir string) (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(os.PathSeparator),
		"./services/auth/cmd/coffer-auth", "./services/files/cmd/coffer-files", "./services/web/cmd/coffer-web")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("harness: go build: %w\n%s", err, out)
	}
	return Binaries{Auth: filepath.Join(dir, "coffer-auth"), Files: filepath.Join(dir, "coffer-files"), Web: filepath.Join(dir, "coffer-web")}, nil
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Process is a running service binary.
type Process struct {
	Name string
	Addr string // host:port it listens on
	URL  string // http://Addr

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
}

// Spec describes a process to start.
type Spec struct {
	Name string
	Bin  string
	Args []string
	Env  []string // added to a minimal environment (PATH, HOME, TMPDIR)
	Addr string
	Dir  string
	// Log, when set, also receives the process's output.
	Log io.Writer
}

// Start starts a process. It does not wait for readiness; call WaitReady.
func Start(spec Spec) (*Process, error) {
	p := &Process{Name: spec.Name, Addr: spec.Addr, URL: "http://" + spec.Addr, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}, spec.Env...)
	var out io.Writer = p.logs
	if spec.Log != nil {
		out = io.MultiWriter(p.logs, spec.Log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// The child dies with its parent, so no test or runner leaves a process behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start %s: %w", spec.Name, err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr is the process's exit error, once Done is closed.
func (p *Process) ExitErr() error { return p.err }

// Logs returns everything the process has printed so far.
func (p *Process) Logs() string { return p.logs.String() }

// WaitReady polls URL+path until it answers 200, the process exits, or ctx ends.
func (p *Process) WaitReady(ctx context.Context, path string) error {
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(p.URL + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("harness: %s exited before it was ready (%v):\n%s", p.Name, p.err, p.Logs())
		case <-ctx.Done():
			return fmt.Errorf("harness: %s not ready: %w (last error %v):\n%s", p.Name, ctx.Err(), err, p.Logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits up to timeout for exit, then kills. It returns the exit error
// of a process that exited on its own terms.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.Kill()
		return fmt.Errorf("harness: %s did not stop within %v", p.Name, timeout)
	}
}

// Kill sends SIGKILL and waits for exit.
func (p *Process) Kill() error {
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Env formats key/value pairs as an environment list.
func Env(kv map[string]string) []string {
	out := make([]string, 0, len(kv))
	for k, v := range kv {
		out = append(out, k+"="+v)
	}
	return out
}

// HasLine reports whether logs contain a line with every one of the substrings.
func HasLine(logs string, subs ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		all := true
		for _, s := range subs {
			if !strings.Contains(line, s) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
