package files_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/linktoken"
	"github.com/cofferhq/coffer/services/files/internal/passhash"
)

func newGuard(e *env) *files.Guard {
	return files.NewGuard(passhash.New(2), e.db, files.GuardConfig{MaxAttempts: 3, Window: time.Minute}, e.clock.Now)
}

func newLinks(t *testing.T, e *env) *files.Links {
	t.Helper()
	signer, err := linktoken.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return files.NewLinks(e.db, e.blobs, signer, newGuard(e), files.LinkConfig{MaxTTL: time.Hour, MaxDownloads: 10}, e.clock.Now)
}

func ptr(n int) *int { return &n }

// plan is a LinkRequest.Plan of n bytes, fresh when they start at byte 0.
func plan(n int64, fresh bool) func(files.File) (int64, bool) {
	return func(files.File) (int64, bool) { return n, fresh }
}

func open(t *testing.T, l *files.Links, tok string, n int64, fresh bool) error {
	t.Helper()
	_, b, err := l.Open(t.Context(), files.LinkRequest{Token: tok, Plan: plan(n, fresh)})
	if err == nil {
		b.Close()
	}
	return err
}

// TestLinkBudget: a link of N downloads serves at most N × size bytes to responses that carry
// byte 0 and one size more to resumes, whatever the mix of ranges, and none to HEADs once
// spent; a cut download resumes within the budget.
func TestLinkBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := newLinks(t, e)
	f := upload(t, e.service(), "alice", "a.txt", []byte("abcdefghij")) // 10 bytes
	_, tok, err := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Minute, MaxDownloads: ptr(1)})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		n     int64
		fresh bool
		ok    bool
	}{
		{0, false, true},  // HEAD
		{10, true, true},  // the download: 10 of 10 fresh bytes
		{0, false, false}, // spent for downloads: a HEAD says so
		{10, true, false}, // a second download
		{1, true, false},  // bytes=0-0
		{9, false, true},  // bytes=1-: the slack, 19 of 20
		{9, false, false}, // again: 28 > 20
		{1, false, true},  // 20 of 20
		{1, false, false},
	}
	for i, s := range steps {
		if err := open(t, l, tok, s.n, s.fresh); (err == nil) != s.ok {
			t.Fatalf("step %d (%d bytes, fresh %v): %v, want ok=%v", i, s.n, s.fresh, err, s.ok)
		}
	}
	if n := e.count(`SELECT served_bytes FROM file_links`); n != 20 {
		t.Fatalf("served_bytes %d, want 20", n)
	}

	// A cut download resumes within the budget.
	_, tok2, _ := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Minute, MaxDownloads: ptr(1)})
	if err := open(t, l, tok2, 10, true); err != nil {
		t.Fatal(err)
	}
	if err := open(t, l, tok2, 6, false); err != nil {
		t.Fatalf("resume bytes=4-: %v", err)
	}

	// Parallel resumes on a spent link: the slack goes once.
	_, tok3, _ := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Minute, MaxDownloads: ptr(1)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 12 {
		wg.Go(func() {
			if _, b, err := l.Open(t.Context(), files.LinkRequest{Token: tok3, Plan: plan(9, false)}); err == nil {
				b.Close()
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 2 {
		t.Fatalf("12 parallel 9-byte resumes of a 1-download 10-byte link: %d served, want 2 (18 of 20 bytes)", ok)
	}

	// A zero-byte file counts each download as one byte.
	z := upload(t, e.service(), "alice", "empty", nil)
	_, tz, _ := l.Create(t.Context(), "alice", z.ID, files.LinkOptions{TTL: time.Minute, MaxDownloads: ptr(2)})
	for i, want := range []bool{true, true, false} {
		if err := open(t, l, tz, 1, true); (err == nil) != want {
			t.Fatalf("zero-byte download %d: %v, want ok=%v", i+1, err, want)
		}
	}
}

// TestLinkPassword: a protected link opens only with its password, by token and by short id;
// a wrong, missing or surplus password answers like an unknown link; guesses are throttled
// per link, for unknown links alike, and the password is stored hashed.
func TestLinkPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := newLinks(t, e)
	f := upload(t, e.service(), "alice", "a.txt", []byte("abc"))
	link, tok, err := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Hour, Password: "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	if !link.HasPassword() || e.count(`SELECT count(*) FROM file_links WHERE password_hash LIKE '$argon2id$%' AND password_hash NOT LIKE '%hunter2%'`) != 1 {
		t.Fatal("the password is not stored as an argon2id hash")
	}
	try := func(req files.LinkRequest) error {
		_, b, err := l.Open(t.Context(), req)
		if err == nil {
			b.Close()
		}
		return err
	}
	for _, req := range []files.LinkRequest{{Token: tok}, {ShortID: link.ShortID}, {Token: tok, Password: "hunter3"}} {
		if err := try(req); !errors.Is(err, files.ErrNotFound) {
			t.Fatalf("%+v: %v, want ErrNotFound", req, err)
		}
	}
	for _, req := range []files.LinkRequest{{Token: tok, Password: "hunter2"}, {ShortID: link.ShortID, Password: "hunter2"}} {
		if err := try(req); err != nil {
			t.Fatalf("the right password: %v", err)
		}
	}
	// Two wrong guesses so far on this link's window of 3 (one above, by token); two more
	// reach the limit, and then even the right password waits.
	for _, pw := range []string{"a", "b", "c"} {
		_ = try(files.LinkRequest{ShortID: link.ShortID, Password: pw})
	}
	var te *files.ThrottledError
	if err := try(files.LinkRequest{Token: tok, Password: "hunter2"}); !errors.As(err, &te) || te.RetryAfter <= 0 {
		t.Fatalf("after the limit: %v, want a ThrottledError", err)
	}
	// An unknown short id answers a guess exactly as a protected one: not found, then throttled.
	unknown, _ := files.NewShortID()
	for i := range 3 {
		if err := try(files.LinkRequest{ShortID: unknown, Password: "x"}); !errors.Is(err, files.ErrNotFound) {
			t.Fatalf("guess %d on an unknown link: %v", i, err)
		}
	}
	if err := try(files.LinkRequest{ShortID: unknown, Password: "x"}); !errors.As(err, &te) {
		t.Fatalf("fourth guess on an unknown link: %v, want a ThrottledError", err)
	}
	// The window ends.
	e.clock.Advance(time.Minute + time.Second)
	if err := try(files.LinkRequest{ShortID: link.ShortID, Password: "hunter2"}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// A link without a password ignores one sent.
	_, open, _ := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Minute})
	if err := try(files.LinkRequest{Token: open, Password: "anything"}); err != nil {
		t.Fatalf("an open link with a password sent: %v", err)
	}
}

// TestLinkLists: the owner lists all their links or one file's, newest first, paged; nobody
// else sees them; short ids are 128-bit base62 and distinct.
func TestLinkLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := newLinks(t, e)
	f := upload(t, e.service(), "alice", "a.txt", []byte("abc"))
	g := upload(t, e.service(), "alice", "b.txt", []byte("abcd"))
	seen := map[string]bool{}
	for i := range 3 {
		for _, file := range []files.File{f, g} {
			link, _, err := l.Create(t.Context(), "alice", file.ID, files.LinkOptions{TTL: time.Minute, MaxDownloads: ptr(i + 1)})
			if err != nil {
				t.Fatal(err)
			}
			if len(link.ShortID) < 20 || !files.ValidShortID(link.ShortID) || seen[link.ShortID] {
				t.Fatalf("short id %q: want 128-bit base62, distinct", link.ShortID)
			}
			seen[link.ShortID] = true
			e.clock.Advance(time.Second)
		}
	}
	var all []files.Link
	cursor := ""
	for {
		p, err := l.List(t.Context(), "alice", nil, files.ListOptions{Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Links...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(all) != 6 || all[0].FileID != g.ID || all[0].FileName != "b.txt" || *all[0].MaxDownloads != 3 || all[0].Budget() != 16 {
		t.Fatalf("alice's links: %d, first %+v", len(all), all[0])
	}
	p, err := l.List(t.Context(), "alice", &f.ID, files.ListOptions{})
	if err != nil || len(p.Links) != 3 {
		t.Fatalf("one file's links: %d, %v", len(p.Links), err)
	}
	if p, err := l.List(t.Context(), "bob", nil, files.ListOptions{}); err != nil || len(p.Links) != 0 {
		t.Fatalf("bob sees %d of alice's links (%v)", len(p.Links), err)
	}
	if p, err := l.List(t.Context(), "bob", &f.ID, files.ListOptions{}); err != nil || len(p.Links) != 0 {
		t.Fatalf("bob sees %d links of alice's file (%v)", len(p.Links), err)
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

	_, expiring, err := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	revoked, revokedTok, err := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, kept, err := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{expiring, revokedTok, kept} {
		if _, b, err := l.Open(t.Context(), files.LinkRequest{Token: tok, Plan: plan(3, true)}); err != nil {
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
	if _, _, err := l.Open(t.Context(), files.LinkRequest{Token: revokedTok, Plan: plan(3, true)}); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("revoked link: %v, want ErrNotFound", err)
	}

	e.clock.Advance(time.Minute + time.Second)
	if _, _, err := l.Open(t.Context(), files.LinkRequest{Token: expiring, Plan: plan(3, true)}); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("expired link: %v, want ErrNotFound", err)
	}
	if _, b, err := l.Open(t.Context(), files.LinkRequest{Token: kept, Plan: plan(3, true)}); err != nil {
		t.Fatalf("unexpired link: %v", err)
	} else {
		b.Close()
	}

	forged := kept[:len(kept)-4] + "AAAA"
	for _, tok := range []string{forged, "", "a.b.c"} {
		if _, _, err := l.Open(t.Context(), files.LinkRequest{Token: tok, Plan: plan(3, true)}); !errors.Is(err, files.ErrNotFound) {
			t.Fatalf("token %q: %v, want ErrNotFound", tok, err)
		}
	}

	if _, _, err := l.Create(t.Context(), "bob", f.ID, files.LinkOptions{TTL: time.Minute}); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("a link to another user's file: %v, want ErrNotFound", err)
	}
	if _, _, err := l.Create(t.Context(), "alice", uuid.New(), files.LinkOptions{TTL: time.Minute}); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("a link to an unknown file: %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		ttl time.Duration
		max *int
	}{{0, nil}, {time.Hour + time.Second, nil}, {time.Minute, ptr(0)}, {time.Minute, ptr(11)}} {
		if _, _, err := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: tc.ttl, MaxDownloads: tc.max}); !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("Create(ttl %v, max %v): %v, want ErrInvalidInput", tc.ttl, tc.max, err)
		}
	}

	if err := svc.Delete(t.Context(), "alice", f.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Open(t.Context(), files.LinkRequest{Token: kept, Plan: plan(3, true)}); !errors.Is(err, files.ErrNotFound) {
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
	l := files.NewLinks(e.db, e.blobs, nil, newGuard(e), files.LinkConfig{}, e.clock.Now)
	f := upload(t, e.service(), "alice", "a", []byte("a"))
	if _, _, err := l.Create(t.Context(), "alice", f.ID, files.LinkOptions{TTL: time.Minute}); !errors.Is(err, files.ErrLinksDisabled) {
		t.Fatalf("Create: %v, want ErrLinksDisabled", err)
	}
	if _, _, err := l.Open(t.Context(), files.LinkRequest{Token: "a.b.c"}); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("Open: %v, want ErrNotFound", err)
	}
}
