package postgres

import (
	"context"
	"errors"
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
