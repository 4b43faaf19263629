package postgres

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestReserveQuotaIsAtomic: many parallel reservations of one owner never add up to more
// than the quota; stored files count through the trigger; releases and lapsed reservations
// free the space.
func TestReserveQuotaIsAtomic(t *testing.T) {
	db, pool := newDB(t)
	ctx := context.Background()
	const quota = 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var granted []uuid.UUID
	for range 25 {
		wg.Go(func() {
			id := uuid.New()
			n, err := db.ReserveQuota(ctx, "alice", id, 100, 100, quota, time.Hour)
			switch {
			case err == nil && n == 100:
				mu.Lock()
				granted = append(granted, id)
				mu.Unlock()
			case errors.Is(err, files.ErrQuotaExceeded):
			default:
				t.Errorf("reserve: %d, %v", n, err)
			}
		})
	}
	wg.Wait()
	if len(granted) != 10 {
		t.Fatalf("%d of 25 parallel reservations of 100 in a quota of %d succeeded, want 10", len(granted), quota)
	}
	if _, err := db.ReserveQuota(ctx, "bob", uuid.New(), 1000, 1000, quota, time.Hour); err != nil {
		t.Fatalf("bob's quota is his own: %v", err)
	}

	// A stored file counts; releasing frees; want is capped by what is free.
	f := files.File{ID: uuid.New(), OwnerID: "alice", Name: "f", Size: 300, SHA256: make([]byte, 32), ContentType: "x", CreatedAt: time.Now()}
	f.BlobKey = f.ID.String()
	if err := db.CreateFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, id := range granted {
		if err := db.ReleaseQuota(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	id := uuid.New()
	if n, err := db.ReserveQuota(ctx, "alice", id, 1, 5000, quota, time.Hour); err != nil || n != 700 {
		t.Fatalf("reserve up to 5000 with 700 free: %d, %v; want 700", n, err)
	}
	if _, err := db.ReserveQuota(ctx, "alice", id, 1, 1, quota, time.Hour); !errors.Is(err, files.ErrQuotaExceeded) {
		t.Fatalf("reserve past the quota: %v", err)
	}
	// A lapsed reservation (a crashed node's) no longer counts.
	if _, err := pool.Exec(ctx, `UPDATE file_quota_reservations SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if n, err := db.ReserveQuota(ctx, "alice", uuid.New(), 700, 700, quota, time.Hour); err != nil || n != 700 {
		t.Fatalf("after the lapse: %d, %v", n, err)
	}
	// Deleting the file gives its bytes back.
	if _, err := db.DeleteFile(ctx, "alice", f.ID); err != nil {
		t.Fatal(err)
	}
	var used int64
	pool.QueryRow(ctx, `SELECT used_bytes FROM file_usage WHERE owner_id = 'alice'`).Scan(&used)
	if used != 0 {
		t.Fatalf("used_bytes after delete = %d, want 0", used)
	}
}

// TestCommitReleasesReservation: committing a file whose id is its upload's reservation
// drops the reservation in the same statement, so the bytes are never counted both as stored
// and as held (which refused a parallel upload that fitted: a spurious 413).
func TestCommitReleasesReservation(t *testing.T) {
	db, pool := newDB(t)
	ctx := context.Background()
	const quota = 600
	id := uuid.New()
	if _, err := db.ReserveQuota(ctx, "alice", id, 300, 300, quota, time.Hour); err != nil {
		t.Fatal(err)
	}
	f := files.File{ID: id, OwnerID: "alice", Name: "f", Size: 300, SHA256: make([]byte, 32), ContentType: "x", CreatedAt: time.Now(), BlobKey: id.String()}
	if err := db.CreateFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	var held int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM file_quota_reservations`).Scan(&held); err != nil || held != 0 {
		t.Fatalf("reservations after the commit: %d (%v), want 0", held, err)
	}
	// Before the upload's own release runs, the other 300 bytes are free.
	if n, err := db.ReserveQuota(ctx, "alice", uuid.New(), 300, 300, quota, time.Hour); err != nil || n != 300 {
		t.Fatalf("reserve the 300 bytes left: %d, %v", n, err)
	}
	if err := db.ReleaseQuota(ctx, id); err != nil {
		t.Fatalf("the upload's release after its commit: %v", err)
	}
}

// TestQuotaExtendedWhileBytesArrive: an upload that lasts several reservation TTLs keeps its
// hold as long as bytes keep arriving, so no other upload can take the space meanwhile; and
// the hold is gone once the upload ends.
func TestQuotaExtendedWhileBytesArrive(t *testing.T) {
	db, pool := newDB(t)
	ctx := context.Background()
	const (
		quota = 1000
		size  = 800
		ttl   = 2 * time.Second
	)
	q := files.NewQuota(drain{}, db, files.QuotaConfig{PerUser: quota, TTL: ttl})
	var checked bool
	body := &trickle{left: size, chunk: 40, every: 250 * time.Millisecond, last: func() {
		// Reading the last chunk: the upload has run for 5 TTLs (20 chunks of 250 ms).
		var lapse time.Duration
		err := pool.QueryRow(ctx, `SELECT extract(epoch FROM expires_at - now()) * interval '1 second' FROM file_quota_reservations`).Scan(&lapse)
		if err != nil || lapse <= 0 {
			t.Errorf("the long upload's reservation: lapses in %v (%v), want a live reservation", lapse, err)
		}
		if _, err := db.ReserveQuota(ctx, "alice", uuid.New(), quota-size+1, quota-size+1, quota, ttl); !errors.Is(err, files.ErrQuotaExceeded) {
			t.Errorf("another upload took the long upload's space: %v", err)
		}
		checked = true
	}}
	if _, err := q.Upload(ctx, files.UploadRequest{OwnerID: "alice", Name: "slow", Body: body, SizeHint: size}); err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the body was not read to its end")
	}
	var held int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM file_quota_reservations`).Scan(&held); err != nil || held != 0 {
		t.Fatalf("reservations after the upload: %d (%v), want 0", held, err)
	}
}

// drain is an Uploader that reads the body and stores nothing.
type drain struct{}

func (drain) Upload(_ context.Context, req files.UploadRequest) (files.File, error) {
	_, err := io.Copy(io.Discard, req.Body)
	return files.File{}, err
}

// trickle is a body that gives chunk bytes every interval (a slow client), calling last
// before its final chunk.
type trickle struct {
	left, chunk int
	every       time.Duration
	last        func()
}

func (r *trickle) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.every) // the client's pace (load shape, not synchronisation)
	n := min(r.chunk, r.left, len(p))
	if n == r.left {
		r.last()
	}
	r.left -= n
	return n, nil
}
