package e2e_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	coffer "github.com/cofferhq/coffer/pkg/client"
)

// allScopes asks the auth service for every file scope (files:share is not a default).
const allScopes = "files:read files:write files:share"

// user is a signed-up account: its id (the sub of its tokens) and a token with allScopes.
type user struct {
	Name  string
	ID    string
	Token string
}

// newUser signs a user up and logs in with the given scopes (allScopes when empty).
func (c *client) newUser(name, scope string) user {
	c.t.Helper()
	if scope == "" {
		scope = allScopes
	}
	pw := "pw-" + name + "-long-enough"
	u, err := c.api(coffer.Token{}).SignUp(c.ctx(), name, pw)
	if err != nil {
		c.t.Fatalf("sign up %s: %v", name, err)
	}
	return user{Name: name, ID: u.ID, Token: c.loginScope(name, pw, scope)}
}

// loginScope logs in asking for scope.
func (c *client) loginScope(name, pw, scope string) string {
	c.t.Helper()
	tok, err := c.apiScope(c.auth, scope).Login(c.ctx(), name, pw)
	if err != nil {
		c.t.Fatalf("login %s with %q: %v", name, scope, err)
	}
	return tok.AccessToken
}

// api is a pkg/client Client for the stack, holding tok, sharing the tests' HTTP client.
func (c *client) api(tok coffer.Token) *coffer.Client {
	c.t.Helper()
	cl, err := coffer.New(coffer.Options{FilesURL: c.files, AuthURL: c.auth, HTTPClient: c.http, Token: tok})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// apiScope is a pkg/client Client for the auth service at authURL that logs in asking for
// scope (the service's default when empty).
func (c *client) apiScope(authURL, scope string) *coffer.Client {
	c.t.Helper()
	cl, err := coffer.New(coffer.Options{FilesURL: c.files, AuthURL: authURL, HTTPClient: c.http, Scope: scope})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// ctx bounds one helper call.
func (c *client) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c.t.Cleanup(cancel)
	return ctx
}

// with returns a copy of h with the bearer token set.
func with(tok string, h map[string]string) map[string]string {
	out := map[string]string{"Authorization": "Bearer " + tok}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// newLinkKey returns a fresh base64 key for COFFER_FILES_LINK_KEY.
func newLinkKey() string {
	var k [32]byte
	rand.Read(k[:])
	return base64.StdEncoding.EncodeToString(k[:])
}

// filesStack starts auth and one file node with its own data folder (returned, so tests can
// count blobs), a link key, and any extra settings.
func filesStack(t *testing.T, extra map[string]string) (*stack, string) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"COFFER_FILES_DATA_DIR": dir, "COFFER_FILES_LINK_KEY": newLinkKey()}
	for k, v := range extra {
		env[k] = v
	}
	return startStack(t, stackOptions{FilesEnv: env}), dir
}

// queryInt runs a one-number query on the file service's database.
func (s *stack) queryInt(sql string, args ...any) int64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.fileDB)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// fileRows counts the rows of the files table.
func (s *stack) fileRows() int64 { return s.queryInt(`SELECT count(*) FROM files`) }

// listJSON is a listing response.
type listJSON struct {
	Files      []fileJSON `json:"files"`
	NextCursor *string    `json:"next_cursor"`
}

func (c *client) list(tok, query string) (listJSON, response) {
	c.t.Helper()
	r := c.do("GET", c.files+"/v1/files"+query, nil, bearer(tok))
	var l listJSON
	if r.Status == http.StatusOK {
		r.JSON(c.t, &l)
	}
	return l, r
}

// expectProblem fails unless r is a problem with the status and code.
func expectProblem(t testing.TB, what string, r response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, status, r.Body)
	}
	if got := r.problemCode(t); got != code {
		t.Fatalf("%s: code %q, want %q", what, got, code)
	}
}

// rawHTTP sends a request byte for byte (no client normalisation) and returns the status and
// body of the first response, or 0 if the server closed without answering.
func rawHTTP(t testing.TB, addr, req string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	go func() { io.WriteString(conn, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// chunked hides a reader's length so the client sends it with chunked transfer coding.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }
