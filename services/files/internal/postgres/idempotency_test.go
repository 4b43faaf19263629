package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestIdempotencyKeys: a key names the file stored with it, for its owner only; reusing it
// stores nothing; deleting the file frees it.
func TestIdempotencyKeys(t *testing.T) {
	db, pool := newDB(t)
	ctx := context.Background()
	newFile := func(owner, key string) files.File {
		id := uuid.New()
		return files.File{ID: id, OwnerID: owner, Name: "f", SHA256: make([]byte, 32), ContentType: "text/plain",
			BlobKey: id.String(), CreatedAt: time.Now().UTC(), IdempotencyKey: key}
	}
	first := newFile("alice", "k-1")
	if err := db.CreateFile(ctx, first); err != nil {
		t.Fatal(err)
	}
	if f, err := db.FileByIdempotencyKey(ctx, "alice", "k-1"); err != nil || f.ID != first.ID {
		t.Fatalf("alice's key: %v %v", f.ID, err)
	}
	if _, err := db.FileByIdempotencyKey(ctx, "bob", "k-1"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob's lookup of alice's key: %v, want ErrNotFound", err)
	}
	if err := db.CreateFile(ctx, newFile("alice", "k-1")); !errors.Is(err, files.ErrKeyUsed) {
		t.Fatalf("alice reuses her key: %v, want ErrKeyUsed", err)
	}
	var n int
	pool.QueryRow(ctx, `SELECT count(*) FROM files WHERE owner_id = 'alice'`).Scan(&n)
	if n != 1 {
		t.Fatalf("alice has %d files after the reuse, want 1", n)
	}
	bobs := newFile("bob", "k-1")
	if err := db.CreateFile(ctx, bobs); err != nil {
		t.Fatalf("bob's own use of the same key: %v", err)
	}
	if f, err := db.FileByIdempotencyKey(ctx, "bob", "k-1"); err != nil || f.ID != bobs.ID {
		t.Fatalf("bob's key names %v, %v; want his file", f.ID, err)
	}
	if _, err := db.DeleteFile(ctx, "alice", first.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateFile(ctx, newFile("alice", "k-1")); err != nil {
		t.Fatalf("the key of a deleted file: %v", err)
	}
}
