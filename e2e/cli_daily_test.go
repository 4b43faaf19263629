package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	coffer "github.com/cofferhq/coffer/pkg/client"
)

// TestCLIDaily drives the coffer binary through daily work: files named by path, short id or
// id (an ambiguous prefix refused), --if-exists, get refusing to overwrite, put -r and put -,
// login refusing URLs that are not Coffer's, unknown commands, and an honest rate on a
// terminal under --limit-rate.
func TestCLIDaily(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	s, _ := filesStack(t, nil)
	c := newCLI(t, bin, s)
	work := t.TempDir()
	c.ok("pw-dana-cli-long-enough\n", "signup", "dana-cli", "--password-stdin")
	c.ok("pw-dana-cli-long-enough\n", "login", "dana-cli", "--password-stdin")

	put := func(args ...string) []cliFile {
		t.Helper()
		var got []cliFile
		c.okJSON(&got, append([]string{"put"}, args...)...)
		return got
	}
	a := writeRandom(t, filepath.Join(work, "a.txt"), 1000)
	first := put("--name", "docs/a.txt", filepath.Join(work, "a.txt"))[0]
	if first.Name != "docs/a.txt" {
		t.Fatalf("put --name stored %q", first.Name)
	}

	t.Run("put prints id and name", func(t *testing.T) {
		writeRandom(t, filepath.Join(work, "b.txt"), 10)
		out := c.ok("", "put", filepath.Join(work, "b.txt"))
		if !regexp.MustCompile(`uploaded b\.txt  [0-9a-f-]{36}  10 B`).MatchString(out) {
			t.Fatalf("put said %q", out)
		}
	})

	t.Run("files by name, short id and id", func(t *testing.T) {
		for _, arg := range []string{"docs/a.txt", first.ID[:6], first.ID[:13], first.ID, strings.ToUpper(first.ID[:8])} {
			got := c.ok("", "get", arg, "-o", "-")
			if got != string(a) {
				t.Fatalf("get %s: %d bytes, want the file's %d", arg, len(got), len(a))
			}
		}
		_, errOut, code := c.run("", "get", first.ID[:5], "-o", "-")
		if code != 4 || !strings.Contains(errOut, "at least 6") {
			t.Errorf("a 5-character prefix: exit %d, %q", code, errOut)
		}
		_, errOut, code = c.run("", "get", "docs/none.txt", "-o", "-")
		if code != 4 || !strings.Contains(errOut, `no file is named "docs/none.txt"`) {
			t.Errorf("an unknown name: exit %d, %q", code, errOut)
		}
	})

	t.Run("an ambiguous prefix or name is refused", func(t *testing.T) {
		// Two files whose ids share 7 characters: random ids would need thousands of
		// uploads, so their rows are written straight into the service's database.
		var who struct {
			UserID string `json:"user_id"`
		}
		c.okJSON(&who, "whoami")
		for _, id := range []string{"deadbee1-0000-4000-8000-000000000001", "deadbee2-0000-4000-8000-000000000002"} {
			s.queryInt(`WITH ins AS (INSERT INTO files (id, owner_id, name, size, sha256, content_type, blob_key, created_at)
				VALUES ($1::text::uuid, $2, 'dup/'||$1::text, 0, sha256(''::bytea), 'text/plain', $1::text, now()) RETURNING 1) SELECT count(*) FROM ins`, id, who.UserID)
		}
		_, errOut, code := c.run("", "rm", "deadbee")
		if code != 1 || !strings.Contains(errOut, "ambiguous") || !strings.Contains(errOut, "deadbee1-") || !strings.Contains(errOut, "deadbee2-") {
			t.Errorf("an ambiguous prefix: exit %d, %q", code, errOut)
		}
		if out := c.ok("", "rm", "deadbee1"); !strings.Contains(out, "deleted deadbee1-0000-4000-8000-000000000001") {
			t.Errorf("a unique prefix: %q", out)
		}
		// A name two files carry (an older client could store that): both ids are shown.
		put("--if-exists=rename", "--name", "docs/a.txt", filepath.Join(work, "a.txt"))
		api := s.client()
		api.upload(c.session()["access_token"].(string), "docs/a.txt", []byte("second file of the same name"))
		_, errOut, code = c.run("", "get", "docs/a.txt", "-o", "-")
		if code != 1 || !strings.Contains(errOut, "ambiguous") || !strings.Contains(errOut, first.ID) {
			t.Errorf("an ambiguous name: exit %d, %q", code, errOut)
		}
	})

	t.Run("--if-exists", func(t *testing.T) {
		src := filepath.Join(work, "a.txt")
		_, errOut, code := c.run("", "put", "--name", "x/one.txt", src)
		if code != 0 {
			t.Fatalf("first put: %d %s", code, errOut)
		}
		var list []coffer.File
		c.okJSON(&list, "ls", "--prefix", "x/")
		old := list[0].ID
		_, errOut, code = c.run("", "put", "--name", "x/one.txt", src)
		if code != 1 || !strings.Contains(errOut, "already exists") || !strings.Contains(errOut, old) {
			t.Errorf("default fail: exit %d, %q", code, errOut)
		}
		if out := c.ok("", "put", "--if-exists=skip", "--name", "x/one.txt", src); !strings.Contains(out, "skipped x/one.txt  "+old) {
			t.Errorf("skip said %q", out)
		}
		if got := put("--if-exists=rename", "--name", "x/one.txt", src); got[0].Name != "x/one (2).txt" {
			t.Errorf("rename stored %q", got[0].Name)
		}
		if got := put("--if-exists=overwrite", "--name", "x/one.txt", src); got[0].ID == old {
			t.Errorf("overwrite kept the id")
		}
		c.okJSON(&list, "ls", "--prefix", "x/")
		var names []string
		for _, f := range list {
			names = append(names, f.Name)
			if f.ID == old {
				t.Errorf("overwrite left the old file")
			}
		}
		sort.Strings(names)
		if !slices.Equal(names, []string{"x/one (2).txt", "x/one.txt"}) {
			t.Errorf("x/ holds %q", names)
		}
	})

	t.Run("get refuses to overwrite", func(t *testing.T) {
		dest := filepath.Join(work, "mine.txt")
		os.WriteFile(dest, []byte("precious"), 0o644)
		_, errOut, code := c.run("", "get", "docs/a (2).txt", "-o", dest)
		if b, _ := os.ReadFile(dest); code != 1 || string(b) != "precious" || !strings.Contains(errOut, "--force") {
			t.Fatalf("get over a file: exit %d, %q, file now %q", code, errOut, b)
		}
		c.ok("", "get", "docs/a (2).txt", "-o", dest, "--force")
		if b, _ := os.ReadFile(dest); !bytes.Equal(b, a) {
			t.Fatal("--force did not replace the file")
		}
	})

	t.Run("put -r and put -", func(t *testing.T) {
		dir := filepath.Join(work, "tree")
		os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755)
		os.WriteFile(filepath.Join(dir, "top.txt"), []byte("top"), 0o644)
		os.WriteFile(filepath.Join(dir, "sub", "deeper", "leaf.txt"), []byte("leaf"), 0o644)
		got := put("-r", dir, "backup/2026")
		var names []string
		for _, f := range got {
			names = append(names, f.Name)
		}
		sort.Strings(names)
		if !slices.Equal(names, []string{"backup/2026/sub/deeper/leaf.txt", "backup/2026/top.txt"}) {
			t.Errorf("put -r stored %q", names)
		}
		out, errOut, code := c.run("from stdin", "--json", "put", "-", "--name", "piped/in.txt")
		if code != 0 || !strings.Contains(out, `"piped/in.txt"`) {
			t.Fatalf("put -: exit %d %s %s", code, out, errOut)
		}
		if got := c.ok("", "get", "piped/in.txt", "-o", "-"); got != "from stdin" {
			t.Errorf("stdin stored %q", got)
		}
	})

	t.Run("login refuses URLs that are not Coffer's; unknown commands exit 2", func(t *testing.T) {
		html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusMethodNotAllowed)
			io.WriteString(w, "<html>nope</html>")
		}))
		defer html.Close()
		_, errOut, code := c.run("pw\n", "--server", html.URL, "login", "dana-cli", "--password-stdin")
		if code == 0 || !strings.Contains(errOut, "is not a Coffer file service") || strings.Contains(errOut, "invalid character") {
			t.Errorf("login at an HTML server: exit %d, %q", code, errOut)
		}
		_, errOut, code = c.run("pw\n", "--auth-server", html.URL, "login", "dana-cli", "--password-stdin")
		if code == 0 || !strings.Contains(errOut, "is not a Coffer auth service") {
			t.Errorf("login at an HTML auth server: exit %d, %q", code, errOut)
		}
		_, errOut, code = c.run("", "--server", html.URL, "ls")
		if code == 0 || !strings.Contains(errOut, "instead of a Coffer error") || strings.Contains(errOut, "invalid character") {
			t.Errorf("ls at an HTML server: exit %d, %q", code, errOut)
		}
		if _, errOut, code := c.run("", "lst"); code != 2 || !strings.Contains(errOut, "unknown command") {
			t.Errorf("unknown command: exit %d, %q", code, errOut)
		}
	})

	t.Run("a retry after the answer was lost stores one file and succeeds", func(t *testing.T) {
		// A proxy in front of the file service drops the connection once, after the service
		// committed the upload and before its answer reaches the CLI.
		target, _ := url.Parse(s.Files[0].URL)
		var cut atomic.Int32
		errCut := errors.New("cut")
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.ModifyResponse = func(resp *http.Response) error {
			committed := (resp.Request.Method == http.MethodPost && resp.Request.URL.Path == "/v1/files" && resp.StatusCode == http.StatusCreated) ||
				(resp.Request.Method == http.MethodPatch && resp.Header.Get("Coffer-File-Id") != "")
			if committed && cut.Add(1) == 1 {
				return errCut
			}
			return nil
		}
		proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, errCut) {
				panic(http.ErrAbortHandler) // the connection closes without an answer
			}
			w.WriteHeader(http.StatusBadGateway)
		}
		front := httptest.NewServer(proxy)
		defer front.Close()
		src := filepath.Join(work, "retried.bin")
		writeRandom(t, src, 3<<20)
		for _, tc := range []struct{ name, mode string }{{"retry/direct.bin", "--no-resume"}, {"retry/tus.bin", ""}} {
			cut.Store(0)
			args := []string{"--server", front.URL, "put", "--name", tc.name, src}
			if tc.mode != "" {
				args = append(args, tc.mode)
			}
			out, errOut, code := c.run("", args...)
			if cut.Load() == 0 {
				t.Fatalf("%s: the proxy never cut a committed upload", tc.name)
			}
			if code != 0 || !strings.Contains(out, "uploaded "+tc.name) {
				t.Errorf("%s: exit %d\n%s\n%s", tc.name, code, out, errOut)
			}
			if n := s.queryInt(`SELECT count(*) FROM files WHERE name = $1`, tc.name); n != 1 {
				t.Errorf("%s: %d files stored, want 1", tc.name, n)
			}
		}

		// Keys are each user's own: bob's upload with dana's key stores bob's file.
		tok := c.session()["access_token"].(string)
		api := s.client()
		bob := api.newUser("bob-idem", "")
		send := func(tok, body string) fileJSON {
			r := api.do("POST", api.files+"/v1/files?name=idem.txt", strings.NewReader(body), with(tok, map[string]string{"Idempotency-Key": `"shared-key-1"`}))
			var f fileJSON
			r.JSON(t, &f)
			if r.Status != http.StatusCreated {
				t.Fatalf("upload with a key: %d %s", r.Status, r.Body)
			}
			return f
		}
		first := send(tok, "dana's")
		if again := send(tok, "dana's, sent again"); again.ID != first.ID {
			t.Errorf("dana's retry stored %s, want her first file %s", again.ID, first.ID)
		}
		if bobs := send(bob.Token, "bob's"); bobs.ID == first.ID || bobs.Size != 5 {
			t.Errorf("bob's upload with dana's key answered %+v", bobs)
		}
		if n := s.queryInt(`SELECT count(*) FROM files WHERE name = 'idem.txt'`); n != 2 {
			t.Errorf("%d idem.txt files, want dana's and bob's", n)
		}
	})

	t.Run("the rate shown on a terminal is the real rate", func(t *testing.T) {
		const size, limit = 6 << 20, 2 << 20
		path := filepath.Join(work, "paced.bin")
		writeRandom(t, path, size)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.bin, "put", "--no-resume", "--limit-rate", "2M", path)
		cmd.Env = c.env
		tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 140})
		if err != nil {
			t.Fatal(err)
		}
		// The stopwatch: the bytes-done counter of each frame as it reaches the terminal,
		// with the time it arrived. The real rate is the bytes done between the first frame
		// that shows progress and the last one, over the time between them (the command's
		// start-up, sign-in and read-back are not part of the transfer).
		type frame struct {
			at   time.Time
			done float64
		}
		var (
			screen bytes.Buffer
			frames []frame
			buf    = make([]byte, 4096)
		)
		counter := regexp.MustCompile(`([0-9.]+) MiB / 6\.0 MiB`)
		for {
			n, err := tty.Read(buf)
			if n > 0 {
				screen.Write(buf[:n])
				if m := counter.FindAllSubmatch(buf[:n], -1); len(m) > 0 {
					v, _ := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
					if v > 0 {
						frames = append(frames, frame{time.Now(), v * (1 << 20)})
					}
				}
			}
			if err != nil {
				break
			}
		}
		tty.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("put: %v\n%s", err, screen.String())
		}
		if len(frames) < 4 {
			t.Fatalf("only %d progress frames drawn:\n%q", len(frames), screen.String())
		}
		first, last := frames[0], frames[len(frames)-1]
		real := (last.done - first.done) / last.at.Sub(first.at).Seconds()
		rates := regexp.MustCompile(`([0-9.]+) MiB/s`).FindAllStringSubmatch(screen.String(), -1)
		if len(rates) < 4 {
			t.Fatalf("only %d rates drawn:\n%q", len(rates), screen.String())
		}
		// The rates drawn in the second half of the transfer (the first need a moment of
		// history), against the rate measured with a stopwatch around the whole command.
		var shown []float64
		for _, m := range rates[len(rates)/2:] {
			v, _ := strconv.ParseFloat(m[1], 64)
			shown = append(shown, v*(1<<20))
		}
		slices.Sort(shown)
		med := shown[len(shown)/2]
		if med < 0.8*real || med > 1.2*real || med > 1.2*limit {
			t.Errorf("rate shown %.2f MiB/s, measured %.2f MiB/s (limit %.1f)", med/(1<<20), real/(1<<20), float64(limit)/(1<<20))
		}
		if !regexp.MustCompile(`uploaded paced\.bin  [0-9a-f-]{36}`).MatchString(screen.String()) {
			t.Errorf("no id line on the terminal:\n%q", screen.String())
		}
	})
}
