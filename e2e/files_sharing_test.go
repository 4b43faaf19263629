package e2e_test

import (
	"bytes"
	"net/http"
	"testing"
)

// TestSharing: the owner shares with a user id; the recipient reads metadata and content and
// finds the file with ?shared=true; everyone else gets 404; the recipient cannot delete,
// re-share or link; revoking stops access at once.
func TestSharing(t *testing.T) {
	s, _ := filesStack(t, nil)
	c := s.client()
	alice, bob, carol := c.newUser("alice", ""), c.newUser("bob", ""), c.newUser("carol", "")
	data := []byte("shared bytes")
	f := c.upload(alice.Token, "plan.txt", data)
	mine := c.upload(bob.Token, "bob's own", []byte("b"))
	shares := c.files + "/v1/files/" + f.ID + "/shares"
	postShare := func(tok, url string, body any) response {
		t.Helper()
		b, _ := jsonBytes(body)
		return c.do("POST", url, bytes.NewReader(b), with(tok, map[string]string{"Content-Type": "application/json"}))
	}

	// Before sharing, bob sees nothing.
	if r := c.do("GET", c.files+"/v1/files/"+f.ID, nil, bearer(bob.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("bob before share: %d", r.Status)
	}
	r := postShare(alice.Token, shares, map[string]string{"user_id": bob.ID})
	if r.Status != http.StatusCreated {
		t.Fatalf("share: %d %s", r.Status, r.Body)
	}
	if r := postShare(alice.Token, shares, map[string]string{"user_id": bob.ID}); r.Status != http.StatusCreated {
		t.Fatalf("share again (idempotent): %d %s", r.Status, r.Body)
	}

	// Bob reads it.
	if r := c.do("GET", c.files+"/v1/files/"+f.ID, nil, bearer(bob.Token)); r.Status != http.StatusOK {
		t.Fatalf("bob metadata: %d %s", r.Status, r.Body)
	}
	if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(bob.Token)); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
		t.Fatalf("bob content: %d %q", r.Status, r.Body)
	}
	l, _ := c.list(bob.Token, "?shared=true")
	if len(l.Files) != 1 || l.Files[0].ID != f.ID {
		t.Fatalf("bob's shared list = %+v, want alice's file", l.Files)
	}
	l, _ = c.list(bob.Token, "")
	if len(l.Files) != 1 || l.Files[0].ID != mine.ID {
		t.Fatalf("bob's own list = %+v, want only his file", l.Files)
	}
	l, _ = c.list(alice.Token, "?shared=true")
	if len(l.Files) != 0 {
		t.Fatalf("alice's shared-with-me list = %+v, want empty", l.Files)
	}

	// Bob may read, not manage; carol sees nothing.
	if r := c.do("DELETE", c.files+"/v1/files/"+f.ID, nil, bearer(bob.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("recipient DELETE: %d", r.Status)
	}
	expectProblem(t, "recipient re-share", postShare(bob.Token, shares, map[string]string{"user_id": carol.ID}), http.StatusNotFound, "not_found")
	expectProblem(t, "recipient link", postShare(bob.Token, c.files+"/v1/files/"+f.ID+"/links", map[string]int{"expires_in": 60}), http.StatusNotFound, "not_found")
	for _, p := range []string{"", "/content"} {
		if r := c.do("GET", c.files+"/v1/files/"+f.ID+p, nil, bearer(carol.Token)); r.Status != http.StatusNotFound {
			t.Fatalf("carol GET%s: %d", p, r.Status)
		}
	}

	// Bad input.
	expectProblem(t, "share with self", postShare(alice.Token, shares, map[string]string{"user_id": alice.ID}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, "share with empty id", postShare(alice.Token, shares, map[string]string{"user_id": ""}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, "share with spaces", postShare(alice.Token, shares, map[string]string{"user_id": "a b"}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, "unknown field", postShare(alice.Token, shares, map[string]string{"user_id": bob.ID, "owner_id": carol.ID}), http.StatusBadRequest, "invalid_json")
	expectProblem(t, "not JSON", c.do("POST", shares, bytes.NewReader([]byte("{")), with(alice.Token, map[string]string{"Content-Type": "application/json"})), http.StatusBadRequest, "invalid_json")
	if n := s.queryInt(`SELECT count(*) FROM file_shares`); n != 1 {
		t.Fatalf("file_shares rows = %d, want 1", n)
	}

	// Revoke: access ends at once.
	if r := c.do("DELETE", shares+"/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for _, p := range []string{"", "/content"} {
		if r := c.do("GET", c.files+"/v1/files/"+f.ID+p, nil, bearer(bob.Token)); r.Status != http.StatusNotFound {
			t.Fatalf("bob GET%s after revoke: %d", p, r.Status)
		}
	}
	if l, _ := c.list(bob.Token, "?shared=true"); len(l.Files) != 0 {
		t.Fatalf("bob's shared list after revoke = %+v", l.Files)
	}
	if r := c.do("DELETE", shares+"/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNotFound {
		t.Fatalf("revoke twice: %d, want 404", r.Status)
	}

	// Deleting the file removes its shares.
	postShare(alice.Token, shares, map[string]string{"user_id": carol.ID})
	c.do("DELETE", c.files+"/v1/files/"+f.ID, nil, bearer(alice.Token))
	if l, _ := c.list(carol.Token, "?shared=true"); len(l.Files) != 0 {
		t.Fatalf("carol's shared list after delete = %+v", l.Files)
	}
	if n := s.queryInt(`SELECT count(*) FROM file_shares`); n != 0 {
		t.Fatalf("file_shares rows after delete = %d, want 0", n)
	}
}
