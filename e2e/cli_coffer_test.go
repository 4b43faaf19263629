package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/cofferhq/coffer/e2e/harness"
	coffer "github.com/cofferhq/coffer/pkg/client"
)

// cli runs the coffer binary as one user would, with its own config folder.
type cli struct {
	t   *testing.T
	bin string
	env []string
	dir string // config folder
}

// buildCLI compiles pkg/client/cmd/coffer into a test folder.
func buildCLI(t *testing.T) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "coffer")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./pkg/client/cmd/coffer")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build coffer: %v\n%s", err, b)
	}
	return out
}

func newCLI(t *testing.T, bin string, s *stack) *cli {
	home := t.TempDir()
	dir := filepath.Join(home, "config")
	return &cli{t: t, bin: bin, dir: dir, env: []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"), "COFFER_CONFIG_DIR=" + dir,
		"COFFER_SERVER=" + s.Files[0].URL, "COFFER_AUTH_SERVER=" + s.Auth.URL,
	}}
}

// command prepares `coffer args...`.
func (c *cli) command(ctx context.Context, stdin string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// run runs `coffer args...` to the end and returns stdout, stderr and the exit code.
func (c *cli) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdout, stderr := c.command(ctx, stdin, args...)
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.t.Fatalf("coffer %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// ok runs `coffer args...` and requires exit code 0.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("coffer %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

// okJSON runs `coffer --json args...` and decodes stdout into v.
func (c *cli) okJSON(v any, args ...string) {
	c.t.Helper()
	out := c.ok("", append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("coffer --json %v: %v\n%s", args, err, out)
	}
}

func (c *cli) session() map[string]any {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "credentials.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// dirBytes adds up the sizes of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func writeRandom(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

type cliFile struct {
	coffer.File
	Path      string `json:"path"`
	ResumedAt int64  `json:"resumed_at"`
}

// TestCLI drives the real coffer binary against the real services: sign-up and login, put,
// ls, get with digest check, an interrupted get resumed with -c, an interrupted put resumed,
// share, a link fetched without a token, rm, exit codes, progress bars on a terminal only,
// and logout revoking the refresh token.
func TestCLI(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	s, dataDir := filesStack(t, nil)
	api := s.client()
	bob := api.newUser("bob-cli", "")
	c := newCLI(t, bin, s)
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Sign up and log in (password on stdin); the session file is the owner's alone.
	c.ok("pw-alice-cli-long-enough\n", "signup", "alice-cli", "--password-stdin")
	if out := c.ok("pw-alice-cli-long-enough\n", "login", "alice-cli", "--password-stdin"); !strings.Contains(out, "logged in as alice-cli") {
		t.Fatalf("login said %q", out)
	}
	if st, err := os.Stat(filepath.Join(c.dir, "credentials.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials.json: %v mode %v", err, st.Mode())
	}
	var who struct {
		Username string `json:"username"`
		UserID   string `json:"user_id"`
		Scope    string `json:"scope"`
	}
	c.okJSON(&who, "whoami")
	if who.Username != "alice-cli" || who.UserID == "" || !strings.Contains(who.Scope, "files:share") {
		t.Fatalf("whoami: %+v", who)
	}

	// Put two files; the plain output (stdout is a pipe) has no bar and no escape codes.
	one := writeRandom(t, filepath.Join(work, "one.bin"), 1<<20+3)
	two := writeRandom(t, filepath.Join(work, "two.txt"), 1000)
	out := c.ok("", "put", filepath.Join(work, "one.bin"), filepath.Join(work, "two.txt"))
	if strings.Count(out, "uploaded ") != 2 || strings.Contains(out, "\x1b[") || strings.Contains(out, "=>") {
		t.Fatalf("put output on a pipe:\n%q", out)
	}
	var listed []coffer.File
	c.okJSON(&listed, "ls")
	ids := map[string]coffer.File{}
	for _, f := range listed {
		ids[f.Name] = f
	}
	if len(listed) != 2 || ids["one.bin"].Size != int64(len(one)) || ids["two.txt"].SHA256 != hex.EncodeToString(sha256Of(two)) {
		t.Fatalf("ls: %+v", listed)
	}
	if table := c.ok("", "ls"); !strings.HasPrefix(table, "ID") || !strings.Contains(table, "one.bin") || !strings.Contains(table, "1.0 MiB") {
		t.Fatalf("ls table:\n%s", table)
	}
	// Sorted by the server, a page of one file at a time (the cursor carries the sort).
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--sort", "size"}, []string{"two.txt", "one.bin"}},
		{[]string{"--sort", "size", "--reverse"}, []string{"one.bin", "two.txt"}},
		{[]string{"--sort", "name", "--reverse"}, []string{"two.txt", "one.bin"}},
	} {
		var sorted []coffer.File
		c.okJSON(&sorted, append([]string{"ls", "--page-size", "1"}, tc.args...)...)
		if len(sorted) != 2 || sorted[0].Name != tc.want[0] || sorted[1].Name != tc.want[1] {
			t.Errorf("ls %v: %+v, want %v", tc.args, sorted, tc.want)
		}
	}

	t.Run("get checks the digest and renames into place", func(t *testing.T) {
		var got []cliFile
		dest := filepath.Join(work, "one.copy")
		c.okJSON(&got, "get", ids["one.bin"].ID, "-o", dest)
		b, err := os.ReadFile(dest)
		if err != nil || !bytes.Equal(b, one) || got[0].SHA256 != ids["one.bin"].SHA256 {
			t.Fatalf("get: %v, equal %v, %+v", err, bytes.Equal(b, one), got)
		}
		if _, err := os.Stat(dest + ".part"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf(".part left behind: %v", err)
		}
	})

	t.Run("an interrupted get resumes with -c", func(t *testing.T) {
		big := writeRandom(t, filepath.Join(work, "big.bin"), 6<<20)
		var put []cliFile
		c.okJSON(&put, "put", "--no-resume", filepath.Join(work, "big.bin"))
		dest := filepath.Join(work, "big.copy")
		cmd, _, stderr := c.command(ctx, "", "get", put[0].ID, "-o", dest, "--limit-rate", "512K")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "a partial download", func() bool {
			st, err := os.Stat(dest + ".part")
			return err == nil && st.Size() >= 256<<10
		})
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		st, err := os.Stat(dest + ".part")
		if err != nil || st.Size() >= int64(len(big)) {
			t.Fatalf("after the kill: %v (stderr %s)", err, stderr)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a truncated file sits under the final name")
		}
		var got []cliFile
		c.okJSON(&got, "get", "-c", put[0].ID, "-o", dest)
		b, _ := os.ReadFile(dest)
		if !bytes.Equal(b, big) || got[0].ResumedAt < 256<<10 {
			t.Fatalf("resumed get: equal %v, resumed at %d", bytes.Equal(b, big), got[0].ResumedAt)
		}
	})

	t.Run("an interrupted put resumes", func(t *testing.T) {
		path := filepath.Join(work, "resume.bin")
		data := writeRandom(t, path, 6<<20)
		before := dirBytes(t, dataDir)
		cmd, _, stderr := c.command(ctx, "", "put", path, "--limit-rate", "512K")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var uploadURL string
		waitFor(t, time.Minute, "the upload to begin", func() bool {
			b, err := os.ReadFile(filepath.Join(c.dir, "transfers.json"))
			var tr struct {
				Uploads map[string]string `json:"uploads"`
			}
			if err != nil || json.Unmarshal(b, &tr) != nil {
				return false
			}
			for _, u := range tr.Uploads {
				uploadURL = u
			}
			return uploadURL != ""
		})
		tok, _ := c.session()["access_token"].(string)
		owner := api.api(coffer.Token{AccessToken: tok})
		// The offset is committed when a PATCH ends, so watch the bytes land on disk.
		waitFor(t, time.Minute, "bytes on the server", func() bool { return dirBytes(t, dataDir) >= before+256<<10 })
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		var off int64
		waitFor(t, time.Minute, "the server to keep the bytes of the broken PATCH", func() bool {
			o, _, err := owner.UploadOffset(ctx, uploadURL)
			off = o
			return err == nil && o > 0
		})
		if off >= int64(len(data)) {
			t.Fatalf("after the kill: offset %d (stderr %s)", off, stderr)
		}
		var got []cliFile
		c.okJSON(&got, "put", path)
		if got[0].ResumedAt == 0 || got[0].SHA256 != hex.EncodeToString(sha256Of(data)) {
			t.Fatalf("resumed put: %+v", got[0])
		}
		var buf bytes.Buffer
		if _, err := owner.Download(ctx, got[0].ID, &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("the resumed upload reads back wrong: %v", err)
		}
	})

	t.Run("share, link, rm", func(t *testing.T) {
		id := ids["two.txt"].ID
		c.ok("", "share", id, "bob-cli")
		bobClient := api.api(coffer.Token{AccessToken: bob.Token})
		if _, err := bobClient.Stat(ctx, id); err != nil {
			t.Fatalf("bob after share: %v", err)
		}
		c.ok("", "unshare", id, "bob-cli")
		if _, err := bobClient.Stat(ctx, id); !errors.Is(err, coffer.ErrNotFound) {
			t.Fatalf("bob after unshare: %v", err)
		}
		link := strings.TrimSpace(c.ok("", "link", id, "--expires", "1h", "--max-downloads", "2"))
		resp, err := http.Get(link) // no token
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, two) {
			t.Fatalf("link %s: %d", link, resp.StatusCode)
		}
		c.ok("", "rm", id)
		if _, _, code := c.run("", "get", id, "-o", filepath.Join(work, "gone")); code != 4 {
			t.Fatalf("get after rm: exit %d, want 4 (not found)", code)
		}
	})

	t.Run("exit codes and messages", func(t *testing.T) {
		if _, errOut, code := c.run("", "get"); code != 2 || !strings.Contains(errOut, "requires at least 1 arg") {
			t.Fatalf("no args: exit %d, %q", code, errOut)
		}
		if _, _, code := c.run("", "ls", "--no-such-flag"); code != 2 {
			t.Fatalf("bad flag: exit %d", code)
		}
		if _, errOut, code := c.run("", "--server", "http://"+freeAddr(t), "ls"); code != 5 || !strings.Contains(errOut, "cannot reach") {
			t.Fatalf("nothing listening: exit %d, %q", code, errOut)
		}
		if _, errOut, code := c.run("", "share", ids["one.bin"].ID, "nobody-at-all"); code != 4 || !strings.Contains(errOut, "no user has that username") {
			t.Fatalf("unknown user: exit %d, %q", code, errOut)
		}
		if out := c.ok("", "completion", "bash"); !strings.Contains(out, "bash completion") {
			t.Fatal("no bash completion script")
		}
	})

	t.Run("progress bar on a terminal only", func(t *testing.T) {
		path := filepath.Join(work, "tty.bin")
		writeRandom(t, path, 2<<20)
		cmd := exec.CommandContext(ctx, c.bin, "put", "--no-resume", "--limit-rate", "4M", path)
		cmd.Env = c.env
		tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 120})
		if err != nil {
			t.Fatal(err)
		}
		var screen bytes.Buffer
		io.Copy(&screen, tty) // ends with EIO when the child exits
		tty.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("put on a terminal: %v\n%s", err, screen.String())
		}
		got := screen.String()
		for _, want := range []string{"put tty.bin", "/ 2.0 MiB", "MiB/s", "[", "]"} {
			if !strings.Contains(got, want) {
				t.Fatalf("terminal output lacks %q:\n%q", want, got)
			}
		}
		if !strings.Contains(got, "uploaded tty.bin  ") {
			t.Fatalf("no id line after the bar on a terminal:\n%q", got)
		}
	})

	t.Run("processes side by side renew an expired session once", func(t *testing.T) {
		m := c.session()
		m["expiry"] = time.Now().Add(-time.Minute).Format(time.RFC3339) // looks expired
		b, _ := json.Marshal(m)
		if err := os.WriteFile(filepath.Join(c.dir, "credentials.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		var cmds []*exec.Cmd
		var errs []*bytes.Buffer
		for range 4 {
			cmd, _, stderr := c.command(ctx, "", "ls")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds, errs = append(cmds, cmd), append(errs, stderr)
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("ls %d: %v %s", i, err, errs[i])
			}
		}
		if c.session()["refresh_token"] == m["refresh_token"] {
			t.Fatal("the session was not renewed")
		}
		c.ok("", "ls") // a refresh token spent twice would have revoked the session
	})

	// Logout revokes the refresh token: spending it afterwards is refused.
	refresh, _ := c.session()["refresh_token"].(string)
	if refresh == "" {
		t.Fatal("no refresh token stored")
	}
	c.ok("", "logout")
	old := api.api(coffer.Token{RefreshToken: refresh})
	if _, err := old.Refresh(ctx); !errors.Is(err, coffer.ErrUnauthorized) {
		t.Fatalf("refresh after logout: %v, want ErrUnauthorized", err)
	}
	if _, errOut, code := c.run("", "ls"); code != 3 || !strings.Contains(errOut, "coffer login") {
		t.Fatalf("ls after logout: exit %d, %q", code, errOut)
	}
}
