package e2e_test

import (
	"net/http"
	"testing"
)

// TestTusIdempotencyKey: a tus creation retried with the same Idempotency-Key (the client
// never saw the first answer) answers with the first upload, its offset and
// Idempotent-Replayed, before and after the upload completes; one upload row and one file.
// Keys are each user's own, a malformed key is refused, and a key whose upload was cancelled
// is free again.
func TestTusIdempotencyKey(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	alice := c.newUser("alice-tus-idem", "")
	bob := c.newUser("bob-tus-idem", "")
	n := s.Files[0].URL
	tc := c.tus(alice.Token)
	key := map[string]string{"Idempotency-Key": `"tus-key-1"`}
	data := []byte("hello, resumable and idempotent world\n")

	first, r := tc.create(n, int64(len(data)), "idem.txt", key)
	if r.Status != http.StatusCreated || first == "" {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := tc.patch(n, first, 0, data[:10], ""); r.Status != http.StatusNoContent {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	again, r := tc.create(n, int64(len(data)), "idem.txt", key)
	if r.Status != http.StatusCreated || again != first || r.Header.Get("Upload-Offset") != "10" || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retried creation: %d %q offset %q replayed %q, want the first upload %q at 10", r.Status, again, r.Header.Get("Upload-Offset"), r.Header.Get("Idempotent-Replayed"), first)
	}
	if r := tc.patch(n, again, 10, data[10:], ""); r.Status != http.StatusNoContent {
		t.Fatalf("patch the rest: %d %s", r.Status, r.Body)
	}
	// After completion the retried creation still names the same upload (now the file), whole.
	done, r := tc.create(n, int64(len(data)), "idem.txt", key)
	if r.Status != http.StatusCreated || done != first || r.Header.Get("Upload-Offset") != "38" {
		t.Fatalf("retried creation after completion: %d %q offset %q", r.Status, done, r.Header.Get("Upload-Offset"))
	}
	if got := s.queryInt(`SELECT count(*) FROM files WHERE name = 'idem.txt'`); got != 1 {
		t.Errorf("%d files called idem.txt, want 1", got)
	}
	if got := s.queryInt(`SELECT count(*) FROM file_uploads WHERE name = 'idem.txt'`); got != 1 {
		t.Errorf("%d uploads of idem.txt, want 1", got)
	}

	// Bob's creation with Alice's key is his own upload.
	bobs, r := c.tus(bob.Token).create(n, 5, "idem.txt", key)
	if r.Status != http.StatusCreated || bobs == first || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("bob with alice's key: %d %q replayed %q", r.Status, bobs, r.Header.Get("Idempotent-Replayed"))
	}
	// A malformed key is refused before anything is stored.
	if _, r := tc.create(n, 5, "bad.txt", map[string]string{"Idempotency-Key": "a\tb"}); r.Status != http.StatusBadRequest || r.problemCode(t) != "invalid_request" {
		t.Errorf("malformed key: %d %s", r.Status, r.Body)
	}
	// A cancelled upload frees its key: the next creation with it starts afresh.
	k2 := map[string]string{"Idempotency-Key": "tus-key-2"}
	p, r := tc.create(n, 5, "cancelled.txt", k2)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := c.do("DELETE", n+p, nil, tusHeaders(alice.Token, nil)); r.Status != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	if p2, r := tc.create(n, 5, "cancelled.txt", k2); r.Status != http.StatusCreated || p2 == p || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("after cancelling, the key's creation: %d %q (cancelled %q) replayed %q", r.Status, p2, p, r.Header.Get("Idempotent-Replayed"))
	}
}
