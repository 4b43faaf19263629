package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
)

// webStack is auth, one file node and the web page, wired as a deployment wires them: the page
// is a registered public OAuth client (whose tokens may carry an admin's role, as compose
// registers it), and its origin is the only one the file service and the
// token endpoint answer CORS for.
type webStack struct {
	*stack
	Web *harness.Process
}

func startWebStack(t *testing.T) *webStack {
	t.Helper()
	webAddr := freeAddr(t)
	web := "http://" + webAddr
	s := startStack(t, stackOptions{
		FilesEnv: map[string]string{
			"COFFER_FILES_CORS_ORIGINS": web, "COFFER_FILES_LINK_KEY": newLinkKey(),
			// Small limits, so the page meets them: the test's files add up to 4.3 MiB.
			"COFFER_FILES_MAX_FILE_SIZE": "4M", "COFFER_FILES_USER_QUOTA": "6M",
		},
		// Short-lived access tokens, so the page renews silently during the test.
		AuthEnv: map[string]string{"COFFER_AUTH_ACCESS_TOKEN_TTL": "5s"},
	})
	s.admin("", "clients", "create", "coffer-web", "--public", "--scopes", allScopes,
		"--redirect-uri", web+"/callback "+web+"/signed-out", "--origin", web, "--admin-role")
	p := s.start("web", bins.Web, webAddr, map[string]string{
		"COFFER_WEB_ADDR":      webAddr,
		"COFFER_WEB_AUTH_URL":  s.Auth.URL,
		"COFFER_WEB_FILES_URL": s.Files[0].URL,
		"COFFER_WEB_CLIENT_ID": "coffer-web",
	})
	return &webStack{stack: s, Web: p}
}

// browserResult is what e2e/browser/web.mjs reports.
type browserResult struct {
	OK          bool              `json:"ok"`
	Step        string            `json:"step"`
	Error       string            `json:"error"`
	Steps       []string          `json:"steps"`
	Listed      []string          `json:"listed"`
	Downloaded  string            `json:"downloaded"`
	Link        string            `json:"link"`
	CORS        map[string]string `json:"cors"`
	AfterDelete []string          `json:"afterDelete"`
	SharedSeen  []string          `json:"sharedSeen"`
	Extra       json.RawMessage   `json:"extra"` // a script's own findings, for its test to read
	Zip         string            `json:"zip"`   // a zip the page downloaded (web_daily_test.go)
}

// runBrowser runs a script of e2e/browser with node, passing settings as JSON.
func runBrowser(t *testing.T, script string, settings map[string]any) browserResult {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "e2e", "browser")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		t.Fatal("e2e/browser has no playwright-core: run `make browser` (npm ci there and Debian's chromium)")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("no /usr/bin/chromium: run `make browser` (apt-get install chromium)")
	}
	cfg, _ := json.Marshal(settings)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = dir
	// A UTF-8 locale: chromium turns file paths (here with a non-ASCII name) into native ones
	// by the locale, and drops what the C locale cannot encode.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(), "LANG=C.UTF-8", "COFFER_WEB_TEST=" + string(cfg)}
	// SIGTERM lets playwright close the browser it started; a process left over is killed.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res browserResult
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, []byte("{")) {
			_ = json.Unmarshal(line, &res)
		}
	}
	if runErr != nil || !res.OK {
		t.Fatalf("browser test failed at step %q: %v\n%s\nstdout:\n%s\nstderr:\n%s", res.Step, runErr, res.Error, stdout.String(), stderr.String())
	}
	return res
}

// artifactsDir is where the browser tests leave screenshots: COFFER_ARTIFACTS_DIR, or the
// git-ignored e2e/browser/artifacts.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("COFFER_ARTIFACTS_DIR")
	if dir == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "e2e", "browser", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestWebPage drives the page in headless chromium as a person would: sign in through the
// authorization page, upload two files with tus (progress to 100%), see them listed,
// download one (same bytes), share one with a second user (who sees it), create a link and
// fetch it from a fresh browser context, delete with confirm; and proves a page on another
// origin gets no CORS access and the token is in no storage.
func TestWebPage(t *testing.T) {
	ws := startWebStack(t)
	c := ws.client()
	u1, u2 := c.newUser("alice-web", ""), c.newUser("bob-web", "")

	// Another origin, not configured anywhere, serving a page of its own.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>elsewhere</title><p>another site</p>"))
	}))
	defer other.Close()

	dir := t.TempDir()
	big := make([]byte, 3<<20+12345)
	rand.Read(big)
	small := []byte(strings.Repeat("Coffer keeps this note safe.\n", 4000))
	photo := make([]byte, 1<<20+7)
	rand.Read(photo)
	files := []string{filepath.Join(dir, "quarterly report.pdf"), filepath.Join(dir, "notes ✓.txt"), filepath.Join(dir, "holiday.jpg"),
		filepath.Join(dir, "film.mp4"), filepath.Join(dir, "backup.zip"), filepath.Join(dir, "later.txt"), filepath.Join(dir, "never.txt")}
	later := []byte(strings.Repeat("paused, then resumed\n", 5000))
	for i, b := range [][]byte{big, small, photo, make([]byte, 5<<20), make([]byte, 5<<19), later, make([]byte, 100<<10)} {
		if err := os.WriteFile(files[i], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	artifacts := artifactsDir(t)

	res := runBrowser(t, "web.mjs", map[string]any{
		"web": ws.Web.URL, "auth": ws.Auth.URL, "files_url": ws.Files[0].URL, "other": other.URL,
		"user1": u1.Name, "pass1": "pw-" + u1.Name + "-long-enough",
		"user2": u2.Name, "pass2": "pw-" + u2.Name + "-long-enough",
		"files": files[:2], "resume": files[2], "tooLarge": files[3], "overQuota": files[4], "pauseCancel": files[5:7],
		"artifacts": artifacts,
	})
	t.Logf("browser steps: %s", strings.Join(res.Steps, "; "))
	t.Logf("screenshot: %s", filepath.Join(artifacts, "web-list.png"))

	// What the page did is checked again from outside the browser.
	names := []string{"quarterly report.pdf", "notes ✓.txt"}
	for _, n := range names {
		if !slices.Contains(res.Listed, n) {
			t.Errorf("page listed %q, want %q among them", res.Listed, n)
		}
	}
	got, err := os.ReadFile(res.Downloaded)
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("downloaded file differs from the uploaded one (%d bytes, want %d; %v)", len(got), len(big), err)
	}
	// The stack's access tokens live 5 s and the browser run takes longer: fresh ones.
	u1.Token = c.loginScope(u1.Name, "pw-"+u1.Name+"-long-enough", allScopes)
	u2.Token = c.loginScope(u2.Name, "pw-"+u2.Name+"-long-enough", allScopes)
	shared, r := c.list(u2.Token, "?shared=true")
	if r.Status != http.StatusOK || len(shared.Files) != 1 || shared.Files[0].Name != names[1] {
		t.Errorf("bob's shared list: %d %+v, want only %q", r.Status, shared.Files, names[1])
	}
	mine, _ := c.list(u1.Token, "")
	sizes := map[string]int64{}
	for _, f := range mine.Files {
		sizes[f.Name] = f.Size
	}
	want := map[string]int64{names[1]: int64(len(small)), "holiday.jpg": int64(len(photo)), "dropped.txt": 20, "later.txt": int64(len(later))}
	if !maps.Equal(sizes, want) {
		t.Errorf("alice's files after deleting one in the page: %v, want %v", sizes, want)
	}
	for _, f := range mine.Files {
		if f.Name == "holiday.jpg" && f.SHA256 != fmt.Sprintf("%x", sha256.Sum256(photo)) {
			t.Errorf("the upload resumed after a cut connection has SHA-256 %s, want that of the file", f.SHA256)
		}
		if f.Name == "later.txt" && f.SHA256 != fmt.Sprintf("%x", sha256.Sum256(later)) {
			t.Errorf("the upload paused and resumed has SHA-256 %s, want that of the file", f.SHA256)
		}
	}
	// Cancel in the page terminated the upload: no row, no reservation left behind.
	if n := ws.queryInt(`SELECT count(*) FROM file_uploads WHERE name = $1 AND completed_at IS NULL`, "never.txt"); n != 0 {
		t.Errorf("the cancelled upload left %d upload rows", n)
	}
	if n := ws.queryInt(`SELECT count(*) FROM file_quota_reservations`); n != 0 {
		t.Errorf("%d quota reservations left after every upload finished or was cancelled", n)
	}
	if slices.Contains(res.AfterDelete, names[0]) {
		t.Errorf("page still lists the deleted file: %q", res.AfterDelete)
	}
	if r := c.do("GET", res.Link, nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("link to the deleted file: got %d, want 404", r.Status)
	}
	for k, v := range res.CORS {
		if !strings.HasPrefix(v, "blocked") {
			t.Errorf("other origin, %s fetch: %s", k, v)
		}
	}

	// The same CORS rule, seen on the wire.
	preflight := func(origin string) response {
		return c.do("OPTIONS", ws.Files[0].URL+"/v1/files", nil, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization",
		})
	}
	if r := preflight(ws.Web.URL); r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != ws.Web.URL {
		t.Errorf("preflight from the page's origin: %d, Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r := preflight(other.URL); r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("preflight from another origin got CORS headers: %v", r.Header)
	}

	// The auth service's token endpoint: the page's origin exactly, not another one, not one
	// that merely starts with it.
	authPreflight := func(origin string) response {
		return c.do("OPTIONS", ws.Auth.URL+"/oauth2/token", nil, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
		})
	}
	if r := authPreflight(ws.Web.URL); r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != ws.Web.URL {
		t.Errorf("auth preflight from the page's origin: %d, Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
	for _, origin := range []string{other.URL, ws.Web.URL + "0", ws.Web.URL + ".evil.example"} {
		if r := authPreflight(origin); r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("auth preflight from %s got CORS headers: %v", origin, r.Header)
		}
	}

	// The page's CSP names exactly its own origin and the two services.
	page := c.do("GET", ws.Web.URL+"/", nil, nil)
	csp := page.Header.Get("Content-Security-Policy")
	if want := "connect-src 'self' " + ws.Auth.URL + " " + ws.Files[0].URL; !strings.Contains(csp, want) || strings.Contains(csp, "unsafe-") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("page CSP %q, want %q, frame-ancestors 'none' and nothing unsafe", csp, want)
	}
}
