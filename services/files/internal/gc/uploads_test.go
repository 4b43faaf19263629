package gc_test

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/gc"
)

// TestCollectExpiredUploads: a run removes an expired resumable upload's bytes, row and quota
// reservation, and keeps a live one, including the complete blob of a live upload whose file
// row is not written yet (a crash between the two), which is no orphan while the upload lives.
func TestCollectExpiredUploads(t *testing.T) {
	db := newDB(t)
	t.Cleanup(db.Close)
	blobs, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	state, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	newUpload := func(expires time.Time, complete bool) files.Upload {
		now := time.Now().UTC().Truncate(time.Microsecond)
		u := files.Upload{ID: uuid.New(), OwnerID: "alice", Name: "u", ContentType: "application/octet-stream", Size: 5, HashState: state, CreatedAt: now, ExpiresAt: expires}
		if err := db.CreateUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ReserveQuota(ctx, "alice", u.ID, 5, 5, 100, time.Hour); err != nil {
			t.Fatal(err)
		}
		n, st, err := blobs.Append(ctx, u.BlobKey(), nil, 0, bytes.NewReader([]byte("hello")))
		if err != nil || n != 5 {
			t.Fatal(n, err)
		}
		if err := db.AdvanceUpload(ctx, u.ID, 0, 5, state, st); err != nil {
			t.Fatal(err)
		}
		if complete {
			if err := blobs.CompleteAppend(ctx, u.BlobKey(), st, 5); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	expired := newUpload(time.Now().Add(-time.Minute), false)
	live := newUpload(time.Now().Add(time.Hour), true)

	svc := files.NewService(db, blobs, files.Config{MaxFileSize: 1 << 20}, nil, logger())
	uploads := files.NewResumable(svc, db, blobs, db, 100, db)
	c := gc.New(blobs, db, db, gc.Config{Grace: time.Nanosecond, IncompleteAge: time.Nanosecond, WaitForLock: true, Uploads: uploads}, nil, logger())
	res, err := c.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploads != 1 || res.Orphans != 0 {
		t.Fatalf("run: %+v, want 1 expired upload and no orphan", res)
	}
	if _, err := db.UploadByID(ctx, "alice", expired.ID); err == nil {
		t.Fatal("the expired upload's row is still there")
	}
	if err := blobs.CompleteAppend(ctx, expired.BlobKey(), nil, 5); err == nil {
		t.Fatal("the expired upload's bytes are still there")
	}
	if _, err := db.UploadByID(ctx, "alice", live.ID); err != nil {
		t.Fatalf("the live upload: %v", err)
	}
	if !exists(t, blobs, live.BlobKey()) {
		t.Fatal("the live upload's complete blob was collected as an orphan")
	}
	// Only the live upload's 5 bytes are held: 95 of 100 free.
	if _, err := db.ReserveQuota(ctx, "alice", uuid.New(), 95, 95, 100, time.Hour); err != nil {
		t.Fatalf("the expired upload's reservation is still held: %v", err)
	}
}
