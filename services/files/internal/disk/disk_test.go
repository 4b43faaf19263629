package disk_test

import (
	"errors"
	"io"
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
