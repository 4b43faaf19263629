package files_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/linktoken"
)

func newLinks(t *testing.T, e *env) *files.Links {
	t.Helper()
	signer, err := linktoken.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return files.NewLinks(e.db, e.blobs, signer, files.LinkConfig{MaxTTL: time.Hour, MaxDownloads: 10}, e.clock.Now)
}

func ptr(n int) *int { return &n }

// counted takes a download on every open (a GET from the first byte).
func counted(files.File) bool { return true }

// TestLinkDownloads: a link with max_downloads serves that many counted opens and no more;
// an uncounted open (a HEAD, a resumed range) never uses one up.
func TestLinkDownloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := newLinks(t, e)
	f := upload(t, e.service(), "alice", "a.txt", []byte("abc"))
	_, tok, err := l.Create(t.Context(), "alice", f.ID, time.Minute, ptr(2))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, b, err := l.Open(t.Context(), tok, nil); err != nil {
			t.Fatalf("uncounted open: %v", err)
		} else {
			b.Close()
		}
	}
	for i := range 2 {
		got, b, err := l.Open(t.Context(), tok, counted)
		if err != nil || got.ID != f.ID || string(readAll(t, b)) != "abc" {
			t.Fatalf("download %d: %v", i+1, err)
		}
	}
	if _, _, err := l.Open(t.Context(), tok, counted); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("download past the limit: %v, want ErrNotFound", err)
	}
	if _, _, err := l.Open(t.Context(), tok, nil); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("a used-up link still opens: %v, want ErrNotFound", err)
	}
}

// TestLinkEnds: a link stops at its expiry, when revoked, and when its file is deleted; a
// link cannot be made to another user's file, and its token cannot be forged.
func TestLinkEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := newLinks(t, e)
	svc := e.service()
	f := upload(t, svc, "alice", "a.txt", []byte("abc"))

	_, expiring, err := l.Create(t.Context(), "alice", f.ID, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	revoked, revokedTok, err := l.Create(t.Context(), "alice", f.ID, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, kept, err := l.Create(t.Context(), "alice", f.ID, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{expiring, revokedTok, kept} {
		if _, b, err := l.Open(t.Context(), tok, counted); err != nil {
			t.Fatalf("fresh link: %v", err)
		} else {
			b.Close()
		}
	}

	if err := l.Revoke(t.Context(), "bob", f.ID, revoked.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("a stranger revoking: %v, want ErrNotFound", err)
	}
	if err := l.Revoke(t.Context(), "alice", f.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Open(t.Context(), revokedTok, counted); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("revoked link: %v, want ErrNotFound", err)
	}

	e.clock.Advance(time.Minute + time.Second)
	if _, _, err := l.Open(t.Context(), expiring, counted); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("expired link: %v, want ErrNotFound", err)
	}
	if _, b, err := l.Open(t.Context(), kept, counted); err != nil {
		t.Fatalf("unexpired link: %v", err)
	} else {
		b.Close()
	}

	forged := kept[:len(kept)-4] + "AAAA"
	for _, tok := range []string{forged, "", "a.b.c"} {
		if _, _, err := l.Open(t.Context(), tok, counted); !errors.Is(err, files.ErrNotFound) {
			t.Fatalf("token %q: %v, want ErrNotFound", tok, err)
		}
	}

	if _, _, err := l.Create(t.Context(), "bob", f.ID, time.Minute, nil); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("a link to another user's file: %v, want ErrNotFound", err)
	}
	if _, _, err := l.Create(t.Context(), "alice", uuid.New(), time.Minute, nil); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("a link to an unknown file: %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		ttl time.Duration
		max *int
	}{{0, nil}, {time.Hour + time.Second, nil}, {time.Minute, ptr(0)}, {time.Minute, ptr(11)}} {
		if _, _, err := l.Create(t.Context(), "alice", f.ID, tc.ttl, tc.max); !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("Create(ttl %v, max %v): %v, want ErrInvalidInput", tc.ttl, tc.max, err)
		}
	}

	if err := svc.Delete(t.Context(), "alice", f.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Open(t.Context(), kept, counted); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("link to a deleted file: %v, want ErrNotFound", err)
	}
	if n := e.count(`SELECT count(*) FROM file_links`); n != 0 {
		t.Fatalf("%d link rows left after the file's delete, want 0", n)
	}
}

// TestLinksDisabled: without a signing key, creating a link says so and opening finds nothing.
func TestLinksDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := files.NewLinks(e.db, e.blobs, nil, files.LinkConfig{}, e.clock.Now)
	f := upload(t, e.service(), "alice", "a", []byte("a"))
	if _, _, err := l.Create(t.Context(), "alice", f.ID, time.Minute, nil); !errors.Is(err, files.ErrLinksDisabled) {
		t.Fatalf("Create: %v, want ErrLinksDisabled", err)
	}
	if _, _, err := l.Open(t.Context(), "a.b.c", counted); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("Open: %v, want ErrNotFound", err)
	}
}
