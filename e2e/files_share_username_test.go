package e2e_test

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestShareByUsername: issue 4's POST /v1/files/{id}/shares {"username"}. The file service
// resolves the name through the auth service (GET /v1/users/{username}, with the caller's
// token), case-insensitively; bob then lists and downloads the file. An unknown or disabled
// username is 404 user_not_found with no share row; a token without files:share is 403; an
// unreachable or silent auth service is 503 unavailable with Retry-After, and sharing by
// user_id keeps working meanwhile.
func TestShareByUsername(t *testing.T) {
	s, _ := filesStack(t, nil)
	c := s.client()
	alice, bob, carol := c.newUser("alice", ""), c.newUser("bob", ""), c.newUser("carol", "")
	noShare := c.loginScope("alice", "pw-alice-long-enough", "files:read files:write")
	data := []byte("shared by name")
	f := c.upload(alice.Token, "by-name.txt", data)
	shares := c.files + "/v1/files/" + f.ID + "/shares"
	post := func(tok string, body any) response {
		t.Helper()
		b, _ := jsonBytes(body)
		return c.do("POST", shares, bytes.NewReader(b), with(tok, map[string]string{"Content-Type": "application/json"}))
	}
	rows := func() int64 { return s.queryInt(`SELECT count(*) FROM file_shares`) }

	// Before sharing, bob sees nothing.
	if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(bob.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("bob before share: %d", r.Status)
	}

	// Errors first: nothing may be stored by any of them.
	expectProblem(t, "unknown username", post(alice.Token, map[string]string{"username": "nobody"}), http.StatusNotFound, "user_not_found")
	expectProblem(t, "malformed username", post(alice.Token, map[string]string{"username": "no body/../x"}), http.StatusNotFound, "user_not_found")
	expectProblem(t, "too long a username", post(alice.Token, map[string]string{"username": strings.Repeat("b", 65)}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, "empty username", post(alice.Token, map[string]string{"username": ""}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, "both fields", post(alice.Token, map[string]string{"username": "bob", "user_id": bob.ID}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, "neither field", post(alice.Token, map[string]string{}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, "with self by name", post(alice.Token, map[string]string{"username": "ALICE"}), http.StatusBadRequest, "invalid_request")
	r := post(noShare, map[string]string{"username": "bob"})
	expectProblem(t, "token without files:share", r, http.StatusForbidden, "insufficient_scope")
	// Another user's file answers like a missing one, whatever the username.
	expectProblem(t, "carol shares alice's file", post(carol.Token, map[string]string{"username": "bob"}), http.StatusNotFound, "not_found")
	if n := rows(); n != 0 {
		t.Fatalf("file_shares rows after refused shares = %d, want 0", n)
	}

	// Share by name, in any letter case: one share row, bob's id.
	for _, name := range []string{"bob", "BOB"} {
		r := post(alice.Token, map[string]string{"username": name})
		if r.Status != http.StatusCreated {
			t.Fatalf("share with %q: %d %s", name, r.Status, r.Body)
		}
		var sh struct {
			FileID string `json:"file_id"`
			UserID string `json:"user_id"`
		}
		r.JSON(t, &sh)
		if sh.UserID != bob.ID || sh.FileID != f.ID {
			t.Fatalf("share with %q = %+v, want user_id %s file_id %s", name, sh, bob.ID, f.ID)
		}
	}
	if n := s.queryInt(`SELECT count(*) FROM file_shares WHERE user_id = $1`, bob.ID); n != 1 || rows() != 1 {
		t.Fatalf("file_shares rows for bob = %d (all %d), want 1", n, rows())
	}

	// Bob finds and downloads it.
	l, lr := c.list(bob.Token, "?shared=true")
	if lr.Status != http.StatusOK || len(l.Files) != 1 || l.Files[0].ID != f.ID {
		t.Fatalf("bob's shared list = %d %+v, want alice's file", lr.Status, l.Files)
	}
	if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(bob.Token)); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
		t.Fatalf("bob downloads: %d %q", r.Status, r.Body)
	}
	// Carol still sees nothing.
	if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(carol.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("carol downloads: %d", r.Status)
	}

	// A disabled user cannot be found by name.
	s.admin("", "users", "disable", "carol")
	expectProblem(t, "disabled username", post(alice.Token, map[string]string{"username": "carol"}), http.StatusNotFound, "user_not_found")
	if n := rows(); n != 1 {
		t.Fatalf("file_shares rows after sharing with a disabled user = %d, want 1", n)
	}

	// A file node whose auth URL answers nothing: the lookup times out into a 503, while
	// tokens still verify (the JWKS comes from the real auth service).
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn // accept and never answer
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, conn)
		}
	}()
	slow := s.StartFiles(map[string]string{
		"COFFER_FILES_AUTH_URL":     "http://" + silent.Addr().String(),
		"COFFER_FILES_JWKS_URL":     s.Auth.URL + "/.well-known/jwks.json",
		"COFFER_FILES_ISSUER":       s.Auth.URL,
		"COFFER_FILES_AUTH_TIMEOUT": "300ms",
	})
	start := time.Now()
	b, _ := jsonBytes(map[string]string{"username": "bob"})
	r = c.do("POST", slow.URL+"/v1/files/"+f.ID+"/shares", bytes.NewReader(b), with(alice.Token, map[string]string{"Content-Type": "application/json"}))
	expectProblem(t, "silent auth service", r, http.StatusServiceUnavailable, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("lookup against a silent auth service took %v; the timeout does not hold", d)
	}

	// Auth stopped: 503 by name, user_id still works (tokens verify from the cached JWKS).
	if err := s.Auth.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	r = post(alice.Token, map[string]string{"username": "bob"})
	expectProblem(t, "auth down", r, http.StatusServiceUnavailable, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if r := post(alice.Token, map[string]string{"user_id": carol.ID}); r.Status != http.StatusCreated {
		t.Fatalf("share by user_id with auth down: %d %s", r.Status, r.Body)
	}
	if n := rows(); n != 2 {
		t.Fatalf("file_shares rows = %d, want 2", n)
	}
}
