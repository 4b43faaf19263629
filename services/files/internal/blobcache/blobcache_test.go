package blobcache_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/blobcache"
	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

// listing is the blob cache over a disk store, which still lists (the conformance suite
// lists what it put).
type listing struct {
	*blobcache.Store
	files.BlobLister
}

func TestConformance(t *testing.T) {
	blobtest.RunTests(t, func(t *testing.T) files.BlobStore {
		d, err := disk.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return listing{blobcache.New(d, blobcache.Config{MaxBlob: 1 << 10, Budget: 4 << 10}), d}
	}, blobtest.Options{LargeSize: 1 << 20})
}

func put(t *testing.T, s files.BlobStore, data []byte) string {
	t.Helper()
	key := uuid.NewString()
	if _, err := s.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return key
}

func read(t *testing.T, s files.BlobStore, key string) (files.Blob, []byte) {
	t.Helper()
	b, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, got
}

// TestSmallFromMemory: a small blob, once read, is answered from memory (its file can be
// gone underneath); a large one is always the store's own (an *os.File, for sendfile), and
// the budget holds.
func TestSmallFromMemory(t *testing.T) {
	dir := t.TempDir()
	d, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := blobcache.New(d, blobcache.Config{MaxBlob: 4 << 10, Budget: 10 << 10})
	small := bytes.Repeat([]byte("s"), 4<<10)
	large := bytes.Repeat([]byte("L"), 4<<10+1)
	ks, kl := put(t, s, small), put(t, s, large)
	if _, got := read(t, s, ks); !bytes.Equal(got, small) {
		t.Fatal("small blob read wrong")
	}
	// Gone from the disk behind the store's back: still served, from memory.
	removeBlob(t, dir, ks)
	if _, got := read(t, s, ks); !bytes.Equal(got, small) {
		t.Error("a small blob read before was not served from memory")
	}
	b, got := read(t, s, kl)
	if !bytes.Equal(got, large) {
		t.Error("large blob read wrong")
	}
	if _, ok := b.(*os.File); !ok {
		t.Errorf("a large blob is a %T, want the disk store's *os.File", b)
	}
	for range 5 {
		read(t, s, put(t, s, small))
	}
	if got := s.Bytes(); got > 10<<10 {
		t.Errorf("%d bytes held, budget %d", got, 10<<10)
	}
	// Deleted through the store: forgotten.
	k := put(t, s, small)
	read(t, s, k)
	if err := s.Delete(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(context.Background(), k); err == nil {
		t.Error("a blob deleted through the store still opens")
	}
}

func removeBlob(t *testing.T, dir, key string) {
	t.Helper()
	var found bool
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(p, key) {
			found = os.Remove(p) == nil
		}
		return nil
	})
	if !found {
		t.Fatalf("blob %s not found under %s", key, dir)
	}
}

// s3Listing is Wrap's store over S3, which still lists.
type s3Listing struct {
	files.BlobStore
	files.BlobLister
}

// TestWrapS3: over a real S3 server (versitygw) the cache passes the conformance suite and
// keeps the store's one-request upload of a body of known size (files.SizedPutter), which a
// plain wrapper would hide from the service.
func TestWrapS3(t *testing.T) {
	srv := s3test.Start(t)
	newStore := func(t *testing.T) files.BlobStore {
		st, err := s3.New(s3.Config{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		return s3Listing{blobcache.Wrap(st, blobcache.Config{MaxBlob: 1 << 10, Budget: 4 << 10}), st}
	}
	blobtest.RunTests(t, newStore, blobtest.Options{})

	d, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := blobcache.Wrap(d, blobcache.DefaultConfig()).(files.SizedPutter); ok {
		t.Error("Wrap over the disk store offers PutSized, which the disk store lacks")
	}
	st := newStore(t).(s3Listing).BlobStore
	sp, ok := st.(files.SizedPutter)
	if !ok {
		t.Fatal("Wrap over the S3 store hides PutSized")
	}
	key := uuid.NewString()
	data := []byte("sized body")
	if n, err := sp.PutSized(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil || n != int64(len(data)) {
		t.Fatalf("PutSized = %d, %v; want %d, nil", n, err, len(data))
	}
	if _, got := read(t, st, key); !bytes.Equal(got, data) {
		t.Errorf("read back %q, want %q", got, data)
	}
	if _, err := sp.PutSized(context.Background(), uuid.NewString(), bytes.NewReader(data), int64(len(data))+1); err == nil {
		t.Error("PutSized of a body shorter than declared succeeded")
	}
}
