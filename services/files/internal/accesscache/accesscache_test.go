package accesscache_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/accesscache"
	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// trust is the subscription's state as a test sets it (fence.Listener in the service).
type trust struct{ ok atomic.Bool }

func (t *trust) Fence() (fence.LSN, bool) { return 0, t.ok.Load() }

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newCache(t *testing.T, cfg accesscache.Config) (*accesscache.Cache, *trust, *clock) {
	t.Helper()
	tr := &trust{}
	tr.ok.Store(true)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	return accesscache.New(cfg, tr, clk.now), tr, clk
}

func file(owner string) files.File {
	return files.File{ID: uuid.New(), OwnerID: owner, Name: "a.txt", Size: 4, Status: files.StatusAvailable}
}

func fill(c *accesscache.Cache, user string, f files.File) {
	c.Put(c.Begin(), user, f)
}

func held(c *accesscache.Cache, id uuid.UUID, user string) bool {
	_, ok := c.Get(id, user)
	return ok
}

func TestGrants(t *testing.T) {
	c, _, _ := newCache(t, accesscache.Config{})
	f := file("alice")
	if held(c, f.ID, "alice") {
		t.Fatal("an empty cache held a grant")
	}
	fill(c, "alice", f)
	got, ok := c.Get(f.ID, "alice")
	if !ok || got.ID != f.ID || got.Name != f.Name {
		t.Fatalf("Get after Put = %+v, %v; want the file", got, ok)
	}
	if held(c, f.ID, "bob") {
		t.Error("a grant to alice answered bob")
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 2 || s.Grants != 1 {
		t.Errorf("stats %+v, want 1 hit, 2 misses, 1 grant", s)
	}
}

// TestNotices: a notice naming a file drops every grant of it (owner and share recipients)
// and nothing else; a lost subscription, or a notice naming no file, drops everything.
func TestNotices(t *testing.T) {
	for _, tc := range []struct {
		name       string
		notice     func(f files.File) fence.Notice
		otherStays bool
	}{
		{"share revoked", func(f files.File) fence.Notice {
			return fence.Notice{Kind: fence.ShareRevoked, FileID: f.ID, OwnerID: f.OwnerID, UserID: "bob"}
		}, true},
		{"file deleted", func(f files.File) fence.Notice { return fence.Notice{Kind: fence.FileDeleted, FileID: f.ID} }, true},
		{"file expired", func(f files.File) fence.Notice { return fence.Notice{Kind: fence.FileExpired, FileID: f.ID} }, true},
		{"file changed", func(f files.File) fence.Notice { return fence.Notice{Kind: fence.FileChanged, FileID: f.ID} }, true},
		{"link revoked", func(f files.File) fence.Notice {
			return fence.Notice{Kind: fence.LinkRevoked, FileID: f.ID, LinkID: uuid.New()}
		}, true},
		{"subscription lost", func(files.File) fence.Notice { return fence.Notice{Kind: fence.SubscriptionLost} }, false},
		{"unknown kind without a file", func(files.File) fence.Notice { return fence.Notice{Kind: "user_disabled", UserID: "bob"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := newCache(t, accesscache.Config{})
			f, other := file("alice"), file("alice")
			fill(c, "alice", f)
			fill(c, "bob", f)
			fill(c, "alice", other)
			c.Drop(tc.notice(f))
			if held(c, f.ID, "alice") || held(c, f.ID, "bob") {
				t.Error("a grant of the file the notice names survived it")
			}
			if got := held(c, other.ID, "alice"); got != tc.otherStays {
				t.Errorf("another file's grant held: %v, want %v", got, tc.otherStays)
			}
		})
	}
}

// TestGrantNotices: a notice of access given (a new file, a new share) drops nothing and
// refuses no fill in flight.
func TestGrantNotices(t *testing.T) {
	c, _, _ := newCache(t, accesscache.Config{})
	f := file("alice")
	fill(c, "alice", f)
	tk := c.Begin()
	c.Drop(fence.Notice{Kind: fence.ShareCreated, FileID: f.ID, OwnerID: "alice", UserID: "bob", Grant: true})
	c.Put(tk, "bob", f)
	if !held(c, f.ID, "alice") || !held(c, f.ID, "bob") {
		t.Error("a grant notice dropped a grant or refused a fill")
	}
}

// TestFillRace: a row read before a notice this node has since taken is not kept, whichever
// file the notice names (the row may predate the revocation); neither is one read while the
// subscription was untrusted.
func TestFillRace(t *testing.T) {
	c, tr, _ := newCache(t, accesscache.Config{})
	f := file("alice")
	tk := c.Begin()
	c.Drop(fence.Notice{Kind: fence.ShareRevoked, FileID: f.ID, UserID: "bob"})
	c.Put(tk, "bob", f)
	if held(c, f.ID, "bob") {
		t.Error("a row read before a notice was kept")
	}

	tr.ok.Store(false)
	tk = c.Begin()
	tr.ok.Store(true)
	c.Put(tk, "alice", f)
	if held(c, f.ID, "alice") {
		t.Error("a row read while the subscription was untrusted was kept")
	}
}

// TestUntrusted: while the subscription is untrusted the cache answers nothing, though it
// holds the grant; once trusted again it answers.
func TestUntrusted(t *testing.T) {
	c, tr, _ := newCache(t, accesscache.Config{})
	f := file("alice")
	fill(c, "alice", f)
	tr.ok.Store(false)
	if held(c, f.ID, "alice") {
		t.Error("an untrusted cache answered")
	}
	if s := c.Stats(); s.Bypassed != 1 {
		t.Errorf("bypassed %d, want 1", s.Bypassed)
	}
	tr.ok.Store(true)
	if !held(c, f.ID, "alice") {
		t.Error("a trusted cache did not answer")
	}
}

// TestOnlyServableGrants: a file waiting for the scanner or rejected is never kept (the
// scanner's verdict changes it without a notice).
func TestOnlyServableGrants(t *testing.T) {
	c, _, _ := newCache(t, accesscache.Config{})
	for _, st := range []string{files.StatusPendingScan, files.StatusRejected, ""} {
		f := file("alice")
		f.Status = st
		fill(c, "alice", f)
		if held(c, f.ID, "alice") {
			t.Errorf("a file with status %q was kept", st)
		}
	}
}

func TestTTL(t *testing.T) {
	c, _, clk := newCache(t, accesscache.Config{TTL: time.Minute})
	f := file("alice")
	fill(c, "alice", f)
	clk.t = clk.t.Add(59 * time.Second)
	if !held(c, f.ID, "alice") {
		t.Fatal("a grant expired before its TTL")
	}
	clk.t = clk.t.Add(time.Second)
	if held(c, f.ID, "alice") {
		t.Error("a grant was used past its TTL")
	}
}

func TestSize(t *testing.T) {
	const size = 10
	c, _, _ := newCache(t, accesscache.Config{Size: size})
	var last files.File
	for range 3 * size {
		last = file("alice")
		fill(c, "alice", last)
		fill(c, "bob", last)
	}
	if s := c.Stats(); s.Grants > size {
		t.Errorf("%d grants held, want at most %d", s.Grants, size)
	}
	if !held(c, last.ID, "bob") {
		t.Error("the newest grant was evicted")
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := accesscache.New(accesscache.Config{}, alwaysTrusted{}, nil)
	f := file("alice")
	fill(c, "alice", f)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := c.Get(f.ID, "alice"); !ok {
				b.Fatal("miss")
			}
		}
	})
}

type alwaysTrusted struct{}

func (alwaysTrusted) Fence() (fence.LSN, bool) { return 0, true }
