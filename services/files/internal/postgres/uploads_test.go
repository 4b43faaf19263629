package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

func newUpload(owner string, size int64) files.Upload {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return files.Upload{
		ID: uuid.New(), OwnerID: owner, Name: "u.bin", ContentType: "application/octet-stream", Size: size,
		HashState: []byte("state-0"), CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

// TestUploadOffsetIsCompareAndSwap: only a write that starts at the recorded offset is
// recorded; the loser of two racing writes gets ErrOffsetMoved and changes nothing; another
// owner sees no upload.
func TestUploadOffsetIsCompareAndSwap(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	u := newUpload("alice", 100)
	if err := db.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.AdvanceUpload(ctx, u.ID, 0, 40, []byte("state-40"), []byte("store-40")); err != nil {
		t.Fatal(err)
	}
	if err := db.AdvanceUpload(ctx, u.ID, 0, 30, []byte("state-30"), nil); !errors.Is(err, files.ErrOffsetMoved) {
		t.Fatalf("stale advance: %v, want ErrOffsetMoved", err)
	}
	got, err := db.UploadByID(ctx, "alice", u.ID)
	if err != nil || got.Received != 40 || string(got.HashState) != "state-40" || string(got.StoreState) != "store-40" {
		t.Fatalf("after the race: %+v, %v", got, err)
	}
	if _, err := db.UploadByID(ctx, "bob", u.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("another owner: %v", err)
	}
	if err := db.AdvanceUpload(ctx, uuid.New(), 0, 1, nil, nil); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("unknown upload: %v", err)
	}
	if err := db.AdvanceUpload(ctx, u.ID, 40, 101, nil, nil); err == nil {
		t.Fatal("advanced past the declared size")
	}
}

// TestCompleteUploadIsOneTransaction: completion inserts the file, marks the upload completed
// and drops its reservation together, once; the file then counts in the usage.
func TestCompleteUploadIsOneTransaction(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	u := newUpload("alice", 10)
	if err := db.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReserveQuota(ctx, "alice", u.ID, 10, 10, 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("0123456789"))
	f := files.File{ID: u.ID, OwnerID: "alice", Name: u.Name, Size: 10, SHA256: sum[:], ContentType: u.ContentType, BlobKey: u.BlobKey(), CreatedAt: u.CreatedAt}
	if err := db.CompleteUpload(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteUpload(ctx, f); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("second completion: %v, want ErrNotFound", err)
	}
	if _, err := db.FileByID(ctx, "alice", u.ID); err != nil {
		t.Fatalf("file after completion: %v", err)
	}
	got, _ := db.UploadByID(ctx, "alice", u.ID)
	if got.CompletedAt == nil || got.StoreState != nil {
		t.Fatalf("upload after completion: %+v", got)
	}
	// 90 of 100 left: the file's 10 count once, the reservation is gone.
	if _, err := db.ReserveQuota(ctx, "alice", uuid.New(), 90, 90, 100, time.Hour); err != nil {
		t.Fatalf("reserve the rest: %v", err)
	}
	if err := db.AdvanceUpload(ctx, u.ID, 10, 10, nil, nil); !errors.Is(err, files.ErrOffsetMoved) {
		t.Fatalf("advance a completed upload: %v", err)
	}
	// Expiry takes the row only.
	list, err := db.ExpiredUploads(ctx, time.Now().Add(2*time.Hour), 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("expired: %v %v", list, err)
	}
	if err := db.ForgetUpload(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FileByID(ctx, "alice", u.ID); err != nil {
		t.Fatalf("file after its upload expired: %v", err)
	}
}

// TestLockUploadAsksTheHolderToLetGo: a second locker makes the holder's onRelease run and
// gets the lock once the holder unlocks; it times out if the holder never does; a lock whose
// holder's connection dies is free at once.
func TestLockUploadAsksTheHolderToLetGo(t *testing.T) {
	db, _ := newDB(t)
	t.Cleanup(db.Close)
	ctx := context.Background()
	id := uuid.New()
	asked := make(chan struct{}, 1)
	unlock, err := db.LockUpload(ctx, id, func() { asked <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	// Another upload's lock is independent.
	other, err := db.LockUpload(ctx, uuid.New(), func() { t.Error("the other lock was asked to let go") })
	if err != nil {
		t.Fatal(err)
	}
	defer other()

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = db.LockUpload(short, id, func() {})
	cancel()
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("lock held elsewhere: %v, want ErrLockTimeout", err)
	}
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the holder was never asked to let go")
	}

	got := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		u2, err := db.LockUpload(wctx, id, func() {})
		if err == nil {
			u2()
		}
		got <- err
	}()
	unlock() // onRelease has run once; the holder lets go as tusd's would
	if err := <-got; err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	// Sessions go back to the pool unlocked: the lock is free again at once, many times over.
	for range 20 {
		u, err := db.LockUpload(ctx, id, func() { t.Error("a released lock was still held") })
		if err != nil {
			t.Fatal(err)
		}
		u()
	}
}
