package files_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

func upload(t *testing.T, u files.Uploader, owner, name string, data []byte) files.File {
	t.Helper()
	f, err := u.Upload(t.Context(), files.UploadRequest{OwnerID: owner, Name: name, Body: bytes.NewReader(data), SizeHint: int64(len(data))})
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return f
}

func readAll(t *testing.T, b files.Blob) []byte {
	t.Helper()
	defer b.Close()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestUploadCommit: a stored file has its size and SHA-256 and is visible to its owner only;
// a delete removes row and blob.
func TestUploadCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.service()
	data := []byte("hello, coffer")
	f := upload(t, svc, "alice", "hello.txt", data)
	if sum := sha256.Sum256(data); f.Size != int64(len(data)) || !bytes.Equal(f.SHA256, sum[:]) || f.ContentType != "application/octet-stream" {
		t.Fatalf("stored %d bytes, sha %x, type %q", f.Size, f.SHA256, f.ContentType)
	}
	got, b, err := svc.Open(t.Context(), "alice", f.ID)
	if err != nil || got.ID != f.ID || !bytes.Equal(readAll(t, b), data) {
		t.Fatalf("owner's Open: %v", err)
	}
	if _, err := svc.Get(t.Context(), "bob", f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("another user's Get: %v, want ErrNotFound", err)
	}
	if err := svc.Delete(t.Context(), "bob", f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("another user's Delete: %v, want ErrNotFound", err)
	}
	if err := svc.Delete(t.Context(), "alice", f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(t.Context(), "alice", f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if n := e.blobCount(); n != 0 {
		t.Fatalf("%d blobs after Delete, want 0", n)
	}
}

// TestUploadRefusalsStoreNothing: every refused upload leaves no row and no blob, and says
// why with its sentinel error.
func TestUploadRefusalsStoreNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.service()
	wrong := sha256.Sum256([]byte("something else"))
	for _, tc := range []struct {
		name string
		req  files.UploadRequest
		want error
	}{
		{"digest mismatch", files.UploadRequest{Name: "a", Body: strings.NewReader("data"), WantSHA256: wrong[:]}, files.ErrDigestMismatch},
		{"too large", files.UploadRequest{Name: "a", Body: bytes.NewReader(make([]byte, 1<<20+1))}, files.ErrTooLarge},
		{"no name", files.UploadRequest{Name: "", Body: strings.NewReader("data")}, files.ErrInvalidInput},
		{"control character", files.UploadRequest{Name: "a\nb", Body: strings.NewReader("data")}, files.ErrInvalidInput},
		{"bad utf-8", files.UploadRequest{Name: "a\xff", Body: strings.NewReader("data")}, files.ErrInvalidInput},
		{"long name", files.UploadRequest{Name: strings.Repeat("n", files.MaxNameBytes+1), Body: strings.NewReader("data")}, files.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.OwnerID = "alice"
			if _, err := svc.Upload(t.Context(), tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("Upload: %v, want %v", err, tc.want)
			}
			if n := e.count(`SELECT count(*) FROM files`); n != 0 {
				t.Fatalf("%d rows, want 0", n)
			}
			if n := e.blobCount(); n != 0 {
				t.Fatalf("%d blobs, want 0", n)
			}
		})
	}
	// Exactly the limit is accepted.
	upload(t, svc, "alice", "max", make([]byte, 1<<20))
}

// TestListBounds: the listing's limits are checked before the store is asked.
func TestListBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.service()
	for range 3 {
		upload(t, svc, "alice", "f", []byte("x"))
	}
	upload(t, svc, "bob", "f", []byte("x"))
	page, err := svc.List(t.Context(), "alice", files.ListOptions{Limit: 2})
	if err != nil || len(page.Files) != 2 || page.NextCursor == "" {
		t.Fatalf("first page: %d files, cursor %q, %v", len(page.Files), page.NextCursor, err)
	}
	page, err = svc.List(t.Context(), "alice", files.ListOptions{Limit: 2, Cursor: page.NextCursor})
	if err != nil || len(page.Files) != 1 || page.NextCursor != "" {
		t.Fatalf("second page: %d files, cursor %q, %v", len(page.Files), page.NextCursor, err)
	}
	for _, opts := range []files.ListOptions{{Limit: -1}, {Limit: 1001}, {Prefix: strings.Repeat("p", files.MaxNameBytes+1)}, {Cursor: "not-a-cursor"}} {
		if _, err := svc.List(t.Context(), "alice", opts); !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("List(%+v): %v, want ErrInvalidInput", opts, err)
		}
	}
	if _, err := svc.Get(t.Context(), "alice", uuid.New()); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
}
