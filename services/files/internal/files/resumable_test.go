package files_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestResumable: the rules of a resumable upload, where they live. Creation checks the file
// like a direct upload and holds the quota for the declared size; a write with a wrong
// checksum is dropped and the offset stays; a write at the wrong offset or after the expiry is
// refused; completion checks the whole-file digest carried across writes and makes the file
// (releasing the hold); a digest mismatch keeps nothing.
func TestResumable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	r := files.NewResumable(e.service(), e.db, e.blobs, e.db, 100, e.db)
	if got, want := r.Expiry(), files.DefaultConfig().UploadExpiry; got != want {
		t.Fatalf("expiry %v, want the default %v", got, want)
	}

	for _, tc := range []struct {
		req  files.NewUpload
		want error
	}{
		{files.NewUpload{OwnerID: "alice", Name: "", Size: 1}, files.ErrInvalidInput},
		{files.NewUpload{OwnerID: "alice", Name: "a\x00b", Size: 1}, files.ErrInvalidInput},
		{files.NewUpload{OwnerID: "alice", Name: "big", Size: 1<<20 + 1}, files.ErrTooLarge},
		{files.NewUpload{OwnerID: "alice", Name: "over", Size: 101}, files.ErrQuotaExceeded},
	} {
		if _, err := r.Create(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("Create(%+v) = %v, want %v", tc.req, err, tc.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM file_uploads`) + e.count(`SELECT count(*) FROM file_quota_reservations`); n != 0 {
		t.Fatalf("refused creations left %d rows", n)
	}

	data := []byte("hello, world")
	sum := sha256.Sum256(data)
	u, err := r.Create(ctx, files.NewUpload{OwnerID: "alice", Name: "h.txt", Size: int64(len(data)), WantSHA256: sum[:]})
	if err != nil {
		t.Fatal(err)
	}
	if u.ContentType != "application/octet-stream" || !u.ExpiresAt.Equal(u.CreatedAt.Add(r.Expiry())) {
		t.Fatalf("created %+v", u)
	}
	if _, err := r.Create(ctx, files.NewUpload{OwnerID: "alice", Name: "x", Size: 100 - int64(len(data)) + 1}); !errors.Is(err, files.ErrQuotaExceeded) {
		t.Fatalf("the hold is not counted: %v", err)
	}
	bad := sha256.Sum256([]byte("other"))
	if _, err := r.Write(ctx, &u, 0, bytes.NewReader(data[:5]), bad[:]); !errors.Is(err, files.ErrChecksumMismatch) {
		t.Fatalf("wrong checksum: %v", err)
	}
	if u, _ = r.Get(ctx, "alice", u.ID); u.Received != 0 {
		t.Fatalf("a dropped write moved the offset to %d", u.Received)
	}
	first := sha256.Sum256(data[:5])
	if n, err := r.Write(ctx, &u, 0, bytes.NewReader(data[:5]), first[:]); err != nil || n != 5 {
		t.Fatalf("write: %d, %v", n, err)
	}
	if _, err := r.Write(ctx, &u, 3, bytes.NewReader(data[3:]), nil); !errors.Is(err, files.ErrOffsetMoved) {
		t.Fatalf("write at the wrong offset: %v", err)
	}
	if _, err := r.Get(ctx, "bob", u.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob sees alice's upload: %v", err)
	}
	// The hash state is carried: the rest arrives through another Resumable (another node).
	r2 := files.NewResumable(e.service(), e.db, e.blobs, e.db, 100, e.db)
	u, err = r2.Resume(ctx, "alice", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Write(ctx, &u, 5, bytes.NewReader(data[5:]), nil); err != nil {
		t.Fatal(err)
	}
	f, err := r2.Complete(ctx, &u, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.SHA256, sum[:]) || f.Size != int64(len(data)) || u.CompletedAt == nil {
		t.Fatalf("completed %+v, upload %+v", f, u)
	}
	got, err := e.service().Get(ctx, "alice", u.ID)
	if err != nil || got.Name != "h.txt" {
		t.Fatalf("the file: %+v, %v", got, err)
	}
	if n := e.count(`SELECT count(*) FROM file_quota_reservations`); n != 0 {
		t.Fatalf("completion left %d holds", n)
	}

	// A whole-file digest that does not match: nothing is kept.
	w, err := r.Create(ctx, files.NewUpload{OwnerID: "alice", Name: "w", Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Write(ctx, &w, 0, bytes.NewReader([]byte("world")), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Complete(ctx, &w, bad[:]); !errors.Is(err, files.ErrDigestMismatch) {
		t.Fatalf("digest mismatch: %v", err)
	}
	if _, err := r.Get(ctx, "alice", w.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("the mismatched upload is still there: %v", err)
	}

	// Expiry: a write after it is refused, and the collector's pass removes it.
	x, err := r.Create(ctx, files.NewUpload{OwnerID: "alice", Name: "x", Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(r.Expiry() + time.Second)
	if !r.Expired(x) {
		t.Fatal("not expired after its expiry")
	}
	if _, err := r.Write(ctx, &x, 0, bytes.NewReader([]byte("late!")), nil); !errors.Is(err, files.ErrUploadExpired) {
		t.Fatalf("write after expiry: %v", err)
	}
	if n, err := r.ExpireUploads(ctx, e.clock.Now()); err != nil || n != 2 { // x, and the completed upload's row
		t.Fatalf("ExpireUploads = %d, %v; want 2", n, err)
	}
	if n := e.count(`SELECT count(*) FROM file_uploads`) + e.count(`SELECT count(*) FROM file_quota_reservations`); n != 0 {
		t.Fatalf("expiry left %d rows", n)
	}
	if _, err := e.service().Get(ctx, "alice", u.ID); err != nil {
		t.Fatalf("expiring a completed upload's row removed its file: %v", err)
	}
}
