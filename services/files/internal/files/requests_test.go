package files_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestRequestLimits: a file request's file count and byte limit hold under parallel
// reservations; a released reservation frees its share; a closed, expired or unknown request
// and a wrong password are all ErrNotFound; another user cannot see or close it.
func TestRequestLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := files.NewRequests(e.db, newGuard(e), newLinks(t, e), e.clock.Now)
	maxFiles, maxBytes := 3, int64(100)
	r, err := q.Create(t.Context(), "alice", files.RequestOptions{Title: "Scans", TTL: time.Hour, MaxFiles: &maxFiles, MaxBytes: &maxBytes, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Admit(t.Context(), r.ShortID, "nope"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("wrong password: %v", err)
	}
	admitted, err := q.Admit(t.Context(), r.ShortID, "pw")
	if err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			switch err := q.Reserve(t.Context(), admitted, 30); {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, files.ErrRequestLimit):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 {
		t.Fatalf("10 parallel 30-byte reservations on a 3-file, 100-byte request: %d taken, want 3", ok.Load())
	}
	if err := q.Release(t.Context(), r.ID, 30); err != nil {
		t.Fatal(err)
	}
	if err := q.Reserve(t.Context(), admitted, 41); !errors.Is(err, files.ErrRequestLimit) {
		t.Fatalf("101 bytes on a 100-byte request: %v, want ErrRequestLimit", err)
	}
	if err := q.Reserve(t.Context(), admitted, 40); err != nil {
		t.Fatalf("the released slot: %v", err)
	}
	if err := q.Reserve(t.Context(), admitted, 0); !errors.Is(err, files.ErrRequestLimit) {
		t.Fatalf("a fourth file on a 3-file request: %v, want ErrRequestLimit", err)
	}
	if _, err := q.Close(t.Context(), "bob", r.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob closes alice's request: %v", err)
	}
	if _, err := q.Close(t.Context(), "alice", r.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.StillOpen(t.Context(), r.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("a closed request is still open: %v", err)
	}
	if _, err := q.Admit(t.Context(), r.ShortID, "pw"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("admitted to a closed request: %v", err)
	}
	open, err := q.Create(t.Context(), "alice", files.RequestOptions{Title: "Open", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Admit(t.Context(), open.ShortID, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if _, err := q.Admit(t.Context(), open.ShortID, ""); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("admitted to an expired request: %v", err)
	}
	for _, o := range []files.RequestOptions{{TTL: time.Minute}, {Title: "x", TTL: 2 * time.Hour}, {Title: "a\nb", TTL: time.Minute}, {Title: "x", TTL: time.Minute, MaxFiles: new(int)}} {
		if _, err := q.Create(t.Context(), "alice", o); !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("Create(%+v): %v, want ErrInvalidInput", o, err)
		}
	}
}
