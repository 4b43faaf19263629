package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
	coffer "github.com/cofferhq/coffer/pkg/client"
	"github.com/cofferhq/coffer/pkg/pgtest"
)

// bins are the service binaries, built once for the whole test binary by TestMain.
var bins harness.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coffer-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bins, err = harness.Build(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := runDatabases(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is a running auth service and the file nodes that trust it.
type stack struct {
	t      testing.TB
	Auth   *harness.Process
	Files  []*harness.Process
	kek    string
	authDB string
	fileDB string
}

type stackOptions struct {
	FileNodes   int
	AuthEnv     map[string]string
	FilesEnv    map[string]string
	MaxFileSize string
}

// startStack starts auth and file nodes on fresh databases and waits until all are ready.
func startStack(t testing.TB, opts stackOptions) *stack {
	t.Helper()
	if opts.FileNodes == 0 {
		opts.FileNodes = 1
	}
	var k [32]byte
	rand.Read(k[:])
	s := &stack{t: t, kek: base64.StdEncoding.EncodeToString(k[:]), authDB: pgtest.NewDatabase(t), fileDB: pgtest.NewDatabase(t)}
	s.Auth = s.StartAuth(opts.AuthEnv)
	dataDir := t.TempDir()
	for range opts.FileNodes {
		env := map[string]string{"COFFER_FILES_DATA_DIR": dataDir}
		if opts.MaxFileSize != "" {
			env["COFFER_FILES_MAX_FILE_SIZE"] = opts.MaxFileSize
		}
		for k, v := range opts.FilesEnv {
			env[k] = v
		}
		s.Files = append(s.Files, s.StartFiles(env))
	}
	return s
}

// StartAuth starts one more auth process on the stack's database.
func (s *stack) StartAuth(extra map[string]string) *harness.Process {
	s.t.Helper()
	return s.StartAuthBin(bins.Auth, extra)
}

// StartAuthBin is StartAuth with another build of the service (an earlier release).
func (s *stack) StartAuthBin(bin string, extra map[string]string) *harness.Process {
	s.t.Helper()
	addr := freeAddr(s.t)
	if a, ok := extra["COFFER_AUTH_ADDR"]; ok {
		addr = a
	}
	dbURL := pooled(s.authDB)
	if bin != bins.Auth { // an earlier release may not work through a transaction pooler
		dbURL = s.authDB
	}
	env := map[string]string{
		"COFFER_AUTH_ADDR":         addr,
		"COFFER_AUTH_DATABASE_URL": dbURL,
		"COFFER_AUTH_ISSUER":       "http://" + addr,
		"COFFER_AUTH_KEK":          s.kek,
		"COFFER_AUTH_SIGNUP":       "true",
	}
	if s.Auth != nil { // replicas share the first one's issuer
		env["COFFER_AUTH_ISSUER"] = s.Auth.URL
	}
	for k, v := range extra {
		env[k] = v
	}
	return s.start("auth", bin, addr, env)
}

// StartFiles starts one more file node trusting the stack's auth service.
func (s *stack) StartFiles(extra map[string]string) *harness.Process {
	s.t.Helper()
	return s.StartFilesBin(bins.Files, extra)
}

// StartFilesBin is StartFiles with another build of the service (an earlier release).
func (s *stack) StartFilesBin(bin string, extra map[string]string) *harness.Process {
	s.t.Helper()
	addr := freeAddr(s.t)
	if a, ok := extra["COFFER_FILES_ADDR"]; ok {
		addr = a
	}
	dbURL := pooled(s.fileDB)
	if bin != bins.Files { // an earlier release may not know COFFER_FILES_DATABASE_DIRECT_URL
		dbURL = s.fileDB
	}
	env := map[string]string{
		"COFFER_FILES_ADDR":         addr,
		"COFFER_FILES_DATABASE_URL": dbURL,
		// Advisory locks and LISTEN need a session: never through the bouncer.
		"COFFER_FILES_DATABASE_DIRECT_URL": s.fileDB,
		"COFFER_FILES_AUTH_URL":            s.Auth.URL,
		"COFFER_FILES_DATA_DIR":            s.t.TempDir(),
	}
	for k, v := range extra {
		env[k] = v
	}
	return s.start("files", bin, addr, env)
}

func (s *stack) start(name, bin, addr string, env map[string]string) *harness.Process {
	s.t.Helper()
	p, err := harness.Start(harness.Spec{Name: name, Bin: bin, Addr: addr, Env: harness.Env(env)})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		if err := p.Stop(20 * time.Second); err != nil {
			s.t.Errorf("%s did not exit cleanly: %v\n%s", name, err, p.Logs())
		} else if s.t.Failed() {
			logErrors(s.t, name, p.Logs())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx, "/readyz"); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func freeAddr(t testing.TB) string {
	t.Helper()
	a, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// client is a tiny API client for the tests.
type client struct {
	t     testing.TB
	http  *http.Client
	auth  string
	files string
}

func (s *stack) client() *client {
	return &client{t: s.t, http: &http.Client{Timeout: 30 * time.Second}, auth: s.Auth.URL, files: s.Files[0].URL}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.Status, err, r.Body)
	}
}

// problemCode returns the code member of a problem+json body.
func (r response) problemCode(t testing.TB) string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, r.Body)
	}
	var p struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	r.JSON(t, &p)
	if p.Status != r.Status {
		t.Fatalf("problem status %d != HTTP status %d", p.Status, r.Status)
	}
	return p.Code
}

func (c *client) do(method, url string, body io.Reader, header map[string]string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (c *client) postJSON(url string, v any) response {
	c.t.Helper()
	b, _ := json.Marshal(v)
	return c.do("POST", url, bytes.NewReader(b), map[string]string{"Content-Type": "application/json"})
}

// signUp creates a user and returns an access token for them.
func (c *client) signUp(username string) string {
	c.t.Helper()
	pw := "pw-" + username + "-long-enough"
	if _, err := c.api(coffer.Token{}).SignUp(c.ctx(), username, pw); err != nil {
		c.t.Fatalf("sign up %s: %v", username, err)
	}
	return c.login(username, pw)
}

func (c *client) login(username, pw string) string {
	c.t.Helper()
	tok, err := c.apiScope(c.auth, "").Login(c.ctx(), username, pw)
	if err != nil {
		c.t.Fatalf("login %s: %v", username, err)
	}
	return tok.AccessToken
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

type fileJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
	// As pkg/client's File (issue 20's fields), so that one converts to the other.
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	SharedBy     string     `json:"shared_by,omitempty"`
	SharedByName string     `json:"shared_by_name,omitempty"`
	RequestID    string     `json:"request_id,omitempty"`
	UploaderName string     `json:"uploader_name,omitempty"`
	Status       string     `json:"status,omitempty"`
	StatusReason string     `json:"status_reason,omitempty"`
	Shared       bool       `json:"shared,omitempty"`
	Linked       bool       `json:"linked,omitempty"`
}

// upload sends a raw upload (through pkg/client, which checks the stored digest) and
// requires success.
func (c *client) upload(tok, name string, data []byte) fileJSON {
	c.t.Helper()
	f, err := c.api(coffer.Token{AccessToken: tok}).Upload(c.ctx(), name, bytes.NewReader(data), &coffer.UploadOptions{Size: int64(len(data))})
	if err != nil {
		c.t.Fatalf("upload %s: %v", name, err)
	}
	return fileJSON(f)
}

// countFiles counts the blobs (and temp files) under a file node's data folder.
func countFiles(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// logErrors shows a failed test the service's error lines, which say why a request got a 500.
func logErrors(t testing.TB, name, logs string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	if len(lines) > 0 {
		t.Logf("%s error lines:\n%s", name, strings.Join(lines, "\n"))
	}
}
