package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestFileMarks: a page's marks say which of the caller's files are shared or have an
// unexpired link; an expired link, a revoked share and another owner's file mark nothing.
func TestFileMarks(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	file := func(owner string) uuid.UUID { return newFile(t, db, owner, now) }
	link := func(owner string, id uuid.UUID, expires time.Time) {
		if _, err := db.CreateLink(ctx, owner, files.Link{ID: uuid.New(), FileID: id, JTI: uuid.NewString(), ShortID: uuid.NewString(), ExpiresAt: expires, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	share := func(owner string, id uuid.UUID, user string) {
		if err := db.CreateShare(ctx, owner, files.Share{FileID: id, UserID: user, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	shared, linked, both, plain, stale, unshared, bobs := file("alice"), file("alice"), file("alice"), file("alice"), file("alice"), file("alice"), file("bob")
	share("alice", shared, "carol")
	link("alice", linked, now.Add(time.Hour))
	share("alice", both, "carol")
	link("alice", both, now.Add(time.Hour))
	link("alice", stale, now.Add(-time.Minute)) // expired
	share("alice", unshared, "carol")
	if err := db.DeleteShare(ctx, "alice", unshared, "carol"); err != nil {
		t.Fatal(err)
	}
	share("bob", bobs, "alice")
	link("bob", bobs, now.Add(time.Hour))

	got, err := db.FileMarks(ctx, "alice", []uuid.UUID{shared, linked, both, plain, stale, unshared, bobs, uuid.New()}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uuid.UUID]files.Marks{
		shared: {Shared: true}, linked: {Linked: true}, both: {Shared: true, Linked: true}, plain: {}, stale: {}, unshared: {},
	}
	if len(got) != len(want) {
		t.Errorf("marks for %d files, want %d (bob's file and an unknown id left out): %v", len(got), len(want), got)
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			t.Errorf("marks of %s: %+v (present %v), want %+v", id, g, ok, w)
		}
	}
}
