package disk_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"testing"

	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
)

func TestConformance(t *testing.T) {
	blobtest.RunTests(t, func(t *testing.T) files.BlobStore {
		s, err := disk.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, blobtest.Options{})
}

// TestBlobOutlivesStore: a blob Put through one Store is there for a new Store on the same
// folder (another node on shared storage, or this node after a restart), and a bad key can
// never name a path outside the root.
func TestBlobOutlivesStore(t *testing.T) {
	dir := t.TempDir()
	a, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := uuid.NewString()
	if _, err := a.Put(t.Context(), key, strings.NewReader("durable")); err != nil {
		t.Fatal(err)
	}
	b, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := b.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer blob.Close()
	if got, _ := io.ReadAll(blob); string(got) != "durable" {
		t.Fatalf("read %q through a new store", got)
	}
	for _, bad := range []string{"../../etc/passwd", "..", "", "abc", "ABCD-1234", "a/b/c/d", "abcd\x00"} {
		if _, err := b.Put(t.Context(), bad, strings.NewReader("x")); !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("Put(%q) err = %v, want ErrInvalidInput", bad, err)
		}
		if _, err := b.Open(t.Context(), bad); !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("Open(%q) err = %v, want ErrInvalidInput", bad, err)
		}
	}
}

// TestPutEarlyWriteback: a blob many writeback windows long (small windows, so the waits for
// earlier windows run too) reads back byte for byte, and only the blob is left in its folder.
func TestPutEarlyWriteback(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.SetWriteback(256 << 10)
	const size = 5<<20 + 12345
	key := uuid.NewString()
	n, err := s.Put(t.Context(), key, io.LimitReader(blobtest.NewPatternReader(size), size))
	if err != nil || n != size {
		t.Fatalf("Put = %d, %v; want %d", n, err, size)
	}
	blob, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer blob.Close()
	got := sha256.New()
	if _, err := io.Copy(got, blob); err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	io.Copy(want, blobtest.NewPatternReader(size))
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("the blob read back differs from what was put")
	}
	entries, err := os.ReadDir(filepath.Join(dir, key[:2], key[2:4]))
	if err != nil || len(entries) != 1 || entries[0].Name() != key {
		t.Fatalf("folder holds %v (%v), want only the blob", entries, err)
	}
}
