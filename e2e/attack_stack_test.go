package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/forge"
	"github.com/cofferhq/coffer/e2e/harness"
	"github.com/cofferhq/coffer/pkg/pgtest"
)

// forgeStack is a file node that trusts a JWK Set served by the test itself, so the test
// holds the one signing key the node accepts (Trusted) and can mint tokens with any claims.
// A victim owns files; every attack is aimed at them.
type forgeStack struct {
	*stack
	t           *testing.T
	Node        *harness.Process
	DataDir     string
	Trusted     forge.Key
	Attacker    forge.Key
	Issuer      string
	Audience    string
	JWKSURL     string
	jwksHits    atomic.Int64
	c           *client
	Victim      string // the victim's sub
	VictimTok   string // a valid read/write token of the victim
	VictimFiles []fileJSON
	snapshot    []byte
	blobs       int
	sent        []string // every hostile token sent, to check the logs never echo one
}

// startForgeStack starts a file node trusting a JWKS the test controls, and uploads two files
// for the victim.
func startForgeStack(t *testing.T) *forgeStack {
	t.Helper()
	return startForgeStackJWK(t, true)
}

// startForgeStackJWK is startForgeStack with a choice: withAlg false publishes the trusted key
// without its "alg" member (RFC 7517 makes it optional), so the node's own algorithm pin, not
// keyfunc's check of the JWK's alg, is what stands between a token and a wrong algorithm.
func startForgeStackJWK(t *testing.T, withAlg bool) *forgeStack {
	t.Helper()
	f := &forgeStack{
		t: t, Trusted: forge.NewKey("coffer-" + randHex(4)), Attacker: forge.NewKey("attacker-1"),
		Issuer: "http://issuer.coffer.test", Audience: "coffer-files", Victim: "user-" + randHex(16),
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		jwk := f.Trusted.JWK()
		if !withAlg {
			delete(jwk, "alg")
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwk}})
	}))
	t.Cleanup(jwks.Close)
	f.JWKSURL = jwks.URL + "/.well-known/jwks.json"
	f.stack = &stack{t: t, fileDB: pgtest.NewDatabase(t)}
	f.DataDir = t.TempDir()
	addr := freeAddr(t)
	f.Node = f.start("files", bins.Files, addr, map[string]string{
		"COFFER_FILES_ADDR":          addr,
		"COFFER_FILES_DATABASE_URL":  f.fileDB,
		"COFFER_FILES_AUTH_URL":      jwks.URL,
		"COFFER_FILES_JWKS_URL":      f.JWKSURL,
		"COFFER_FILES_ISSUER":        f.Issuer,
		"COFFER_FILES_AUDIENCE":      f.Audience,
		"COFFER_FILES_DATA_DIR":      f.DataDir,
		"COFFER_FILES_MAX_FILE_SIZE": "1M",
	})
	f.stack.Files = []*harness.Process{f.Node}
	f.c = &client{t: t, http: &http.Client{Timeout: 30 * time.Second}, files: f.Node.URL}
	f.VictimTok = f.Sign(f.Claims("files:read files:write"))
	for _, name := range []string{"payroll.xlsx", "diary.txt"} {
		f.VictimFiles = append(f.VictimFiles, f.c.upload(f.VictimTok, name, []byte("secret contents of "+name)))
	}
	f.snapshot, f.blobs = f.state()
	t.Cleanup(func() {
		logs := f.Node.Logs()
		for _, tok := range f.sent {
			for _, seg := range strings.Split(tok, ".") {
				if len(seg) >= 24 && strings.Contains(logs, seg) {
					t.Errorf("file node logs echo part of a hostile token: %.40s…", seg)
					return
				}
			}
		}
	})
	return f
}

// Claims are valid claims for the victim with the given scope.
func (f *forgeStack) Claims(scope string) forge.Claims {
	return forge.AccessClaims(f.Issuer, f.Audience, f.Victim, scope, time.Now())
}

// Sign signs claims with the trusted key and a correct header: a token the node must accept
// unless the claims are wrong.
func (f *forgeStack) Sign(claims any) string {
	return forge.Token(forge.Header(f.Trusted.Kid), claims, f.Trusted.RS256())
}

// SignHeader signs with the trusted key under any header.
func (f *forgeStack) SignHeader(header any, claims any) string {
	return forge.Token(header, claims, f.Trusted.RS256())
}

// state is the victim's file list (names, sizes, digests) and the number of blob files.
func (f *forgeStack) state() ([]byte, int) {
	f.t.Helper()
	r := f.c.do("GET", f.Node.URL+"/v1/files?limit=1000", nil, bearer(f.VictimTok))
	if r.Status != http.StatusOK {
		f.t.Fatalf("victim list: %d %s", r.Status, r.Body)
	}
	return r.Body, countFiles(f.t, f.DataDir)
}

// assertUnchanged fails unless the victim's files and the blob store are as they were.
func (f *forgeStack) assertUnchanged(t testing.TB) {
	t.Helper()
	list, blobs := f.state()
	if !bytes.Equal(list, f.snapshot) || blobs != f.blobs {
		t.Fatalf("data changed: list %s (was %s), %d blob files (was %d)", list, f.snapshot, blobs, f.blobs)
	}
}

// protectedRoutes is one request per protected route, aimed at the victim's first file.
func (f *forgeStack) protectedRoutes() []struct{ Method, Path string } {
	id := f.VictimFiles[0].ID
	return []struct{ Method, Path string }{
		{"GET", "/v1/files"},
		{"GET", "/v1/files/" + id},
		{"HEAD", "/v1/files/" + id},
		{"GET", "/v1/files/" + id + "/content"},
		{"HEAD", "/v1/files/" + id + "/content"},
		{"DELETE", "/v1/files/" + id},
		{"POST", "/v1/files?name=planted.txt"},
	}
}

// expectRejectedHeader sends header (an Authorization value, or "" for none) to every
// protected route and requires 401 with a Bearer challenge, a problem body that leaks
// nothing, and no change to the victim's data.
func (f *forgeStack) expectRejectedHeader(t *testing.T, authz string, query string) {
	t.Helper()
	f.sent = append(f.sent, strings.TrimPrefix(authz, "Bearer "))
	for _, rt := range f.protectedRoutes() {
		h := map[string]string{"Content-Type": "application/octet-stream"}
		if authz != "" {
			h["Authorization"] = authz
		}
		u := f.Node.URL + rt.Path
		if query != "" {
			if strings.Contains(u, "?") {
				u += "&" + query
			} else {
				u += "?" + query
			}
		}
		var body *strings.Reader
		if rt.Method == "POST" {
			body = strings.NewReader("planted by an attacker")
		} else {
			body = strings.NewReader("")
		}
		r := f.c.do(rt.Method, u, body, h)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("%s %s: status %d, want 401; body %s", rt.Method, rt.Path, r.Status, r.Body)
		}
		if ch := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
			t.Fatalf("%s %s: WWW-Authenticate %q, want a Bearer challenge", rt.Method, rt.Path, ch)
		}
		// A token that was sent and refused is invalid_token (RFC 6750), in the challenge and
		// the problem code; no usable token at all is a plain challenge, code unauthorized.
		sentToken := strings.HasPrefix(authz, "Bearer ") && strings.TrimSpace(authz[len("Bearer "):]) != ""
		if sentToken && !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("%s %s: WWW-Authenticate %q, want error=\"invalid_token\"", rt.Method, rt.Path, r.Header.Get("WWW-Authenticate"))
		}
		if rt.Method != "HEAD" {
			code := r.problemCode(t)
			if sentToken && code != "invalid_token" || !sentToken && code != "invalid_token" && code != "unauthorized" {
				t.Fatalf("%s %s: problem code %q", rt.Method, rt.Path, code)
			}
			assertNoLeak(t, r.Body, f.Trusted, strings.TrimPrefix(authz, "Bearer "))
		}
	}
	f.assertUnchanged(t)
}

func (f *forgeStack) expectRejected(t *testing.T, tok string) {
	t.Helper()
	f.expectRejectedHeader(t, "Bearer "+tok, "")
}

// expectAccepted is the positive control: the same route answers 200 to the token.
func (f *forgeStack) expectAccepted(t *testing.T, tok string) {
	t.Helper()
	r := f.c.do("GET", f.Node.URL+"/v1/files", nil, bearer(tok))
	if r.Status != http.StatusOK {
		t.Fatalf("valid token rejected: %d %s", r.Status, r.Body)
	}
}

// assertNoLeak fails if a problem body carries key material, internal error text or any part
// of the token that was sent.
func assertNoLeak(t testing.TB, body []byte, key forge.Key, tok string) {
	t.Helper()
	lower := strings.ToLower(string(body))
	n := forge.B64(key.RSA.N.Bytes())
	for _, bad := range []string{
		n[:24], "begin", "private", "panic", "goroutine", ".go:", "runtime", "keyfunc", "jwkset",
		"golang-jwt", "crypto/", "signature is invalid", "token is malformed", "pgx", "postgres",
		"sql", "/tmp", "stack", "verification error",
	} {
		if strings.Contains(lower, strings.ToLower(bad)) {
			t.Fatalf("response body leaks %q: %s", bad, body)
		}
	}
	for _, seg := range strings.Split(tok, ".") {
		if len(seg) >= 16 && strings.Contains(string(body), seg) {
			t.Fatalf("response body echoes the token: %s", body)
		}
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body is not JSON: %s", body)
	}
	for k := range p {
		switch k {
		case "type", "title", "status", "detail", "instance", "code":
		default:
			t.Fatalf("problem body has unexpected member %q: %s", k, body)
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
