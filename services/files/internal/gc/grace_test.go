package gc_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/gc"
)

// TestBlobGrace: a deleted file's blob outlives its row for the blob grace (so a database
// restored to a point before the delete finds it), then the collector removes it and forgets
// the deletion; an orphan that no row ever named is collected after the short grace alone.
func TestBlobGrace(t *testing.T) {
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			b := newBackend(t)
			db, pool := newDBPool(t)
			svc := files.NewService(db, b.store, files.Config{BlobGrace: 24 * time.Hour}, nil, logger())
			f, err := svc.Upload(ctx, files.UploadRequest{OwnerID: "u1", Name: "deleted.txt", Body: bytes.NewReader([]byte("bytes a restore needs"))})
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Delete(ctx, "u1", f.ID); err != nil {
				t.Fatal(err)
			}
			if !exists(t, b.store, f.BlobKey) {
				t.Fatal("Delete removed the blob at once despite the blob grace")
			}
			orphan := uuid.NewString()
			if _, err := b.store.Put(ctx, orphan, bytes.NewReader([]byte("written after the backup"))); err != nil {
				t.Fatal(err)
			}

			at := func(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }
			cfg := gc.Config{Grace: time.Hour, IncompleteAge: time.Hour, BlobGrace: 24 * time.Hour, WaitForLock: true}
			res, err := gc.New(b.store, db, db, cfg, at(2*time.Hour), logger()).RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Orphans != 1 || exists(t, b.store, orphan) || !exists(t, b.store, f.BlobKey) {
				t.Fatalf("within the blob grace: %+v, orphan exists %v, deleted file's blob exists %v; want only the orphan removed",
					res, exists(t, b.store, orphan), exists(t, b.store, f.BlobKey))
			}

			res, err = gc.New(b.store, db, db, cfg, at(25*time.Hour), logger()).RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Orphans != 1 || exists(t, b.store, f.BlobKey) {
				t.Fatalf("after the blob grace: %+v, blob exists %v; want it removed", res, exists(t, b.store, f.BlobKey))
			}
			var left int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM file_deleted_blobs`).Scan(&left); err != nil || left != 0 {
				t.Fatalf("deletion records left: %d, %v; want 0", left, err)
			}
		})
	}
}
