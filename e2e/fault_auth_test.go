package e2e_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/forge"
	"github.com/cofferhq/coffer/pkg/pgtest"
)

// TestFaultAuthDownWarmCache: with the auth service gone, file nodes that already hold its
// keys keep verifying valid tokens (no call to auth per request), stay ready, and still
// refuse forged ones.
func TestFaultAuthDownWarmCache(t *testing.T) {
	s := startStack(t, stackOptions{FileNodes: 2})
	c := s.client()
	alice := c.signUp("alice")
	f := c.upload(alice, "before.txt", []byte("uploaded while auth was up"))
	if err := s.Auth.Stop(20 * time.Second); err != nil {
		t.Fatalf("auth exit: %v", err)
	}
	forged := alice[:len(alice)-4] + "AAAA"
	for i, node := range s.Files {
		if r := c.do("GET", node.URL+"/readyz", nil, nil); r.Status != http.StatusOK {
			t.Fatalf("node %d not ready with auth down: %d %s", i, r.Status, r.Body)
		}
		if r := c.do("GET", node.URL+"/v1/files/"+f.ID+"/content", nil, bearer(alice)); r.Status != http.StatusOK {
			t.Fatalf("node %d with auth down: download %d %s", i, r.Status, r.Body)
		}
		c.files = node.URL
		g := c.upload(alice, "during.txt", []byte("uploaded while auth was down"))
		if r := c.do("DELETE", node.URL+"/v1/files/"+g.ID, nil, bearer(alice)); r.Status != http.StatusNoContent {
			t.Fatalf("node %d with auth down: delete %d", i, r.Status)
		}
		if r := c.do("GET", node.URL+"/v1/files", nil, bearer(forged)); r.Status != http.StatusUnauthorized {
			t.Fatalf("node %d with auth down: forged token %d", i, r.Status)
		}
	}
}

// TestFaultNotReadyFailsClosed: a file node whose JWK Set is unreachable at start is alive but
// not ready, and answers even a well-formed token signed by the very key it will trust with
// 503 unavailable and Retry-After — never 401 (which would tell a client its token is bad)
// and never 2xx; nothing is stored. Once the JWK Set is reachable the node turns ready by
// itself and accepts the same token.
func TestFaultNotReadyFailsClosed(t *testing.T) {
	trusted := forge.NewKey("coffer-" + randHex(4))
	const iss, aud = "http://issuer.coffer.test", "coffer-files"
	jwksAddr := freeAddr(t) // nothing listens here yet
	s := &stack{t: t, fileDB: pgtest.NewDatabase(t)}
	dataDir := t.TempDir()
	addr := freeAddr(t)
	node := startProc(t, "files", bins.Files, addr, map[string]string{
		"COFFER_FILES_ADDR": addr, "COFFER_FILES_DATABASE_URL": s.fileDB, "COFFER_FILES_DATA_DIR": dataDir,
		"COFFER_FILES_AUTH_URL": "http://" + jwksAddr, "COFFER_FILES_JWKS_URL": "http://" + jwksAddr + "/jwks.json",
		"COFFER_FILES_ISSUER": iss, "COFFER_FILES_AUDIENCE": aud,
	})
	c := &client{t: t, http: &http.Client{Timeout: 30 * time.Second}, files: node.URL}
	waitFor(t, 20*time.Second, "the node to listen", func() bool {
		resp, err := http.Get(node.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	tok := forge.Token(forge.Header(trusted.Kid), forge.AccessClaims(iss, aud, "user-"+randHex(8), "files:read files:write", time.Now()), trusted.RS256())
	for range 10 {
		if r := c.do("GET", node.URL+"/readyz", nil, nil); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("readyz with the JWK Set unreachable: %d", r.Status)
		}
		for _, req := range []struct {
			method, path string
			body         io.Reader
		}{{"GET", "/v1/files", nil}, {"POST", "/v1/files?name=early.txt", strings.NewReader("early")}} {
			r := c.do(req.method, node.URL+req.path, req.body, bearer(tok))
			expectProblem(t, req.method+" with a good token before the keys", r, http.StatusServiceUnavailable, "unavailable")
			if r.Header.Get("Retry-After") == "" || r.Header.Get("WWW-Authenticate") != "" {
				t.Fatalf("503 before the keys: Retry-After %q, WWW-Authenticate %q", r.Header.Get("Retry-After"), r.Header.Get("WWW-Authenticate"))
			}
		}
		time.Sleep(100 * time.Millisecond) // keep asking for a while (load shape, not synchronisation)
	}
	if n := countFiles(t, dataDir); n != 0 {
		t.Fatalf("%d blobs stored while not ready", n)
	}
	select {
	case <-node.Done():
		t.Fatalf("node exited without its keys:\n%s", node.Logs())
	default:
	}

	// The JWK Set appears at the address the node was given.
	ln, err := net.Listen("tcp", jwksAddr)
	if err != nil {
		t.Fatal(err)
	}
	jwks := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(forge.JWKS(trusted))
	})}
	go jwks.Serve(ln)
	t.Cleanup(func() { jwks.Close() })
	waitFor(t, 45*time.Second, "the node to become ready by itself", func() bool {
		return c.do("GET", node.URL+"/readyz", nil, nil).Status == http.StatusOK
	})
	if r := c.do("GET", node.URL+"/v1/files", nil, bearer(tok)); r.Status != http.StatusOK {
		t.Fatalf("the same token once the keys are loaded: %d %s", r.Status, r.Body)
	}
	c.upload(tok, "late.txt", []byte("works"))
}
