package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// lookupFixture makes files of alice's (the first shared with carol) and one of bob's.
func lookupFixture(t *testing.T, db *DB, n int) (alices []uuid.UUID, bobs uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for range n {
		alices = append(alices, newFile(t, db, "alice", now))
	}
	if err := db.CreateShare(ctx, "alice", files.Share{FileID: alices[0], UserID: "carol", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return alices, newFile(t, db, "bob", now)
}

// gateLookups holds every coalesced statement until the returned func is called: before it
// is sent, or (answered) after it ran and before its lookups get their answers.
// ran receives each statement once it ran.
func gateLookups(db *DB, answered bool) (open func(), ran <-chan struct{}) {
	gate, done := make(chan struct{}), make(chan struct{}, 1000)
	run := db.lookups.run
	db.lookups.run = func(ctx context.Context, batch []*lookup) {
		if !answered {
			<-gate
		}
		run(ctx, batch)
		done <- struct{}{}
		if answered {
			<-gate
		}
	}
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }, done
}

// eventually polls cond, at most for within, and reports whether it came to hold.
func eventually(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond) // polling, with a deadline
	}
	return true
}

// waitQueued polls until n lookups wait for a statement.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	queued := 0
	if !eventually(30*time.Second, func() bool {
		db.lookups.mu.Lock()
		defer db.lookups.mu.Unlock()
		queued = len(db.lookups.queue)
		return queued >= n
	}) {
		t.Fatalf("%d lookups queued, want %d", queued, n)
	}
}

// TestFileByIDCoalesced: lookups that arrive while statements are in flight share the next
// ones, and each still gets exactly its own answer: the owner's file, a file shared with the
// caller, and not found for another user's file, an unshared one and an unknown id.
func TestFileByIDCoalesced(t *testing.T) {
	db, _ := newDB(t)
	alices, bobs := lookupFixture(t, db, 20)
	type ask struct {
		user string
		id   uuid.UUID
		want bool // found
	}
	var asks []ask
	for i, id := range alices {
		asks = append(asks, ask{"alice", id, true}, ask{"carol", id, i == 0}, ask{"bob", id, false})
	}
	asks = append(asks, ask{"bob", bobs, true}, ask{"alice", bobs, false}, ask{"alice", uuid.New(), false})
	for len(asks) < 300 {
		asks = append(asks, asks[len(asks)%63])
	}

	open, _ := gateLookups(db, false)
	t.Cleanup(open)
	before := db.lookups.statements()
	errs := make(chan error, len(asks))
	for _, a := range asks {
		go func() {
			f, err := db.FileByID(context.Background(), a.user, a.id)
			switch {
			case a.want && err != nil:
				errs <- fmt.Errorf("%s asking for %s: %v", a.user, a.id, err)
			case a.want && (f.ID != a.id || f.OwnerID == ""):
				errs <- fmt.Errorf("%s asking for %s got file %s of %q", a.user, a.id, f.ID, f.OwnerID)
			case !a.want && !errors.Is(err, files.ErrNotFound):
				errs <- fmt.Errorf("%s asking for %s: got %s, %v; want not found", a.user, a.id, f.ID, err)
			default:
				errs <- nil
			}
		}()
	}
	// Two statements are held in flight; everything else waits for the next ones.
	waitQueued(t, db, len(asks)-lookupStatements)
	open()
	for range asks {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// The two held, then the 298 queued in batches of at most 64.
	want := int64(lookupStatements + (len(asks)-lookupStatements+lookupBatch-1)/lookupBatch)
	if got := db.lookups.statements() - before; got != want {
		t.Errorf("%d lookups sent %d statements, want %d", len(asks), got, want)
	}
}

// TestFileByIDCoalescedCancel: a lookup whose request goes away returns at once with its
// context's error; its statement still answers the lookups it carries.
func TestFileByIDCoalescedCancel(t *testing.T) {
	db, _ := newDB(t)
	alices, _ := lookupFixture(t, db, 3)
	open, _ := gateLookups(db, false)
	t.Cleanup(open)
	held := make(chan error, lookupStatements+1)
	for i := range lookupStatements + 1 {
		go func() {
			_, err := db.FileByID(context.Background(), "alice", alices[i])
			held <- err
		}()
	}
	waitQueued(t, db, 1)
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		_, err := db.FileByID(ctx, "alice", alices[0])
		gone <- err
	}()
	waitQueued(t, db, 2)
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled lookup: %v, want context.Canceled", err)
	}
	open()
	for range lookupStatements + 1 {
		if err := <-held; err != nil {
			t.Errorf("held lookup: %v", err)
		}
	}
}

// TestFileByIDCoalescedAnswered: a lookup that starts after a revocation returned is never
// answered by a statement that ran before it, even one still delivering its answers (two
// such statements fill the node's places; the late lookup waits for a new one).
func TestFileByIDCoalescedAnswered(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	alices, _ := lookupFixture(t, db, 1)
	open, ran := gateLookups(db, true)
	t.Cleanup(open)
	early := make(chan error, lookupStatements)
	for i := range lookupStatements {
		go func() {
			_, err := db.FileByID(ctx, []string{"carol", "alice"}[i%2], alices[0])
			early <- err
		}()
	}
	for range lookupStatements {
		select {
		case <-ran:
		case <-time.After(30 * time.Second):
			t.Fatal("the early statements did not run")
		}
	}
	if err := db.DeleteShare(ctx, "alice", alices[0], "carol"); err != nil {
		t.Fatal(err)
	}
	late := make(chan error, 1)
	go func() {
		_, err := db.FileByID(ctx, "carol", alices[0])
		late <- err
	}()
	waitQueued(t, db, 1)
	open()
	if err := <-late; !errors.Is(err, files.ErrNotFound) {
		t.Errorf("lookup after the revocation: %v, want not found", err)
	}
	for range lookupStatements {
		if err := <-early; err != nil {
			t.Errorf("lookup before the revocation: %v, want found", err)
		}
	}
}

// TestFileByIDCoalescedRevocation: under a stream of concurrent lookups, no lookup that
// starts after a share's revocation (or the file's deletion) returned finds the file.
func TestFileByIDCoalescedRevocation(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		revoke func(id uuid.UUID) error
	}{
		{"share revoked", func(id uuid.UUID) error { return db.DeleteShare(ctx, "alice", id, "carol") }},
		{"file deleted", func(id uuid.UUID) error { _, err := db.DeleteFile(ctx, "alice", id); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alices, _ := lookupFixture(t, db, 1)
			var revoked atomic.Bool
			var after, foundBefore atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			// The lookups end before the subtest does, also when it fails.
			defer func() { close(stop); wg.Wait() }()
			for range 16 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						late := revoked.Load()
						_, err := db.FileByID(ctx, "carol", alices[0])
						switch {
						case late && err == nil:
							t.Error("a lookup that started after the revocation returned found the file")
						case late && !errors.Is(err, files.ErrNotFound):
							t.Errorf("lookup after the revocation: %v", err)
						case late:
							after.Add(1)
						case err == nil:
							foundBefore.Add(1)
						}
					}
				})
			}
			// Revoke once the lookups are running, then let 500 more start.
			if !eventually(30*time.Second, func() bool { return foundBefore.Load() >= 50 }) {
				t.Fatalf("only %d lookups found the file before the revocation", foundBefore.Load())
			}
			if err := tc.revoke(alices[0]); err != nil {
				t.Fatal(err)
			}
			revoked.Store(true)
			if !eventually(60*time.Second, func() bool { return after.Load() >= 500 || t.Failed() }) {
				t.Errorf("only %d lookups after the revocation", after.Load())
			}
		})
	}
}
