package files_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestQuota: a user's stored files and uploads in flight never exceed their quota, whether
// the size is declared or streamed; a refused upload stores nothing and holds nothing; the
// quota is per user; a delete frees space at once.
func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := files.NewQuota(e.service(), e.db, files.QuotaConfig{PerUser: 100, Step: 16})
	kept := upload(t, q, "alice", "kept", make([]byte, 60))

	for _, tc := range []struct {
		name string
		hint int64
	}{
		{"declared", 50},
		{"streamed", 0},
		{"declared too small", 10}, // the body is bigger than it said
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := q.Upload(t.Context(), files.UploadRequest{OwnerID: "alice", Name: "over", Body: onlyReader{bytes.NewReader(make([]byte, 50))}, SizeHint: tc.hint})
			if !errors.Is(err, files.ErrQuotaExceeded) {
				t.Fatalf("upload over quota: %v, want ErrQuotaExceeded", err)
			}
			if n := e.count(`SELECT count(*) FROM files WHERE owner_id = 'alice'`); n != 1 {
				t.Fatalf("alice has %d files, want 1", n)
			}
			if n := e.blobCount(); n != 1 {
				t.Fatalf("%d blobs, want 1", n)
			}
			if n := e.count(`SELECT count(*) FROM file_quota_reservations`); n != 0 {
				t.Fatalf("%d reservations left, want 0", n)
			}
		})
	}
	// What is left fits exactly, streamed; then nothing more does.
	upload(t, q, "alice", "rest", make([]byte, 40))
	if _, err := q.Upload(t.Context(), files.UploadRequest{OwnerID: "alice", Name: "one", Body: onlyReader{bytes.NewReader([]byte{1})}}); !errors.Is(err, files.ErrQuotaExceeded) {
		t.Fatalf("one byte over a full quota: %v, want ErrQuotaExceeded", err)
	}
	// Bob's quota is his own.
	upload(t, q, "bob", "full", make([]byte, 100))
	// A delete frees its space at once.
	if err := e.service().Delete(t.Context(), "alice", kept.ID); err != nil {
		t.Fatal(err)
	}
	upload(t, q, "alice", "again", make([]byte, 60))
	if n := e.count(`SELECT count(*) FROM file_quota_reservations`); n != 0 {
		t.Fatalf("%d reservations left after successful uploads, want 0", n)
	}
}

// onlyReader hides every method but Read, as a request body does.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
