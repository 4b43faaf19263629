package disk_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
)

// These tests drive the Service's upload orchestration over the real disk store and
// PostgreSQL: a file is visible only once its blob is durable and its row committed, and every
// failure leaves neither.

func newDB(t *testing.T) *postgres.DB {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	return postgres.New(pool)
}

// gatedMeta wraps the real metadata store so a test can hold CreateFile at its start, or
// make it fail as a lost database connection would.
type gatedMeta struct {
	files.MetadataStore
	entered chan struct{}
	release chan struct{}
	fail    error
}

func (g *gatedMeta) CreateFile(ctx context.Context, f files.File) error {
	if g.entered != nil {
		close(g.entered)
		<-g.release
	}
	if g.fail != nil {
		return g.fail
	}
	return g.MetadataStore.CreateFile(ctx, f)
}

func storeFiles(t *testing.T, dir string) (blobs, temps int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			temps++
		} else {
			blobs++
		}
		return nil
	})
	return blobs, temps
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestUploadVisibleOnlyAfterCommit(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	store, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	db := newDB(t)
	meta := &gatedMeta{MetadataStore: db, entered: make(chan struct{}), release: make(chan struct{})}
	svc := files.NewService(meta, store, files.Config{}, nil, quiet())

	type result struct {
		f   files.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := svc.Upload(ctx, files.UploadRequest{OwnerID: "u", Name: "a.txt", Body: strings.NewReader("hello")})
		done <- result{f, err}
	}()
	select {
	case <-meta.entered:
	case r := <-done:
		t.Fatalf("Upload returned before committing: %+v", r)
	}
	// The blob is durable, the row not yet committed: nothing is visible.
	if blobs, temps := storeFiles(t, dir); blobs != 1 || temps != 0 {
		t.Fatalf("before commit: %d blobs, %d temp files; want the one durable blob", blobs, temps)
	}
	if page, err := svc.List(ctx, "u", files.ListOptions{}); err != nil || len(page.Files) != 0 {
		t.Fatalf("before commit List = %d files, %v; want none", len(page.Files), err)
	}
	close(meta.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	_, b, err := svc.Open(ctx, "u", r.f.ID)
	if err != nil {
		t.Fatalf("after commit: %v", err)
	}
	defer b.Close()
	if got, _ := io.ReadAll(b); string(got) != "hello" {
		t.Fatalf("content = %q", got)
	}
}

// TestFailedUploadsLeaveNothing: whatever makes an upload fail, no row, no blob and no temp
// file remain.
func TestFailedUploadsLeaveNothing(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 2<<20)
	wrong := sha256.Sum256([]byte("something else"))
	tests := []struct {
		name    string
		maxSize int64
		metaErr error
		want    []byte
		cancel  bool
		wantErr error
	}{
		{name: "too large", maxSize: 1 << 20, wantErr: files.ErrTooLarge},
		{name: "digest mismatch", want: wrong[:], wantErr: files.ErrDigestMismatch},
		{name: "database down at commit", metaErr: files.ErrUnavailable, wantErr: files.ErrUnavailable},
		{name: "client gone", cancel: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			store, err := disk.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			db := newDB(t)
			svc := files.NewService(&gatedMeta{MetadataStore: db, fail: tt.metaErr}, store, files.Config{MaxFileSize: tt.maxSize}, nil, quiet())
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var r io.Reader = bytes.NewReader(body)
			if tt.cancel {
				r = io.MultiReader(bytes.NewReader(body[:1<<20]), cancelThenBlock{ctx, cancel})
			}
			_, err = svc.Upload(ctx, files.UploadRequest{OwnerID: "u", Name: "f", Body: r, WantSHA256: tt.want})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Upload err = %v, want %v", err, tt.wantErr)
			}
			if blobs, temps := storeFiles(t, dir); blobs != 0 || temps != 0 {
				t.Fatalf("%d blobs and %d temp files left, want none", blobs, temps)
			}
			page, err := files.NewService(db, store, files.Config{}, nil, quiet()).List(t.Context(), "u", files.ListOptions{})
			if err != nil || len(page.Files) != 0 {
				t.Fatalf("List = %d files, %v; want none", len(page.Files), err)
			}
		})
	}
}

// cancelThenBlock is a body whose client disconnects: the request context ends and the read
// fails with its error.
type cancelThenBlock struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (c cancelThenBlock) Read([]byte) (int, error) {
	c.cancel()
	<-c.ctx.Done()
	return 0, c.ctx.Err()
}

// TestDeleteRemovesBlob: a delete takes the row and then the blob.
func TestDeleteRemovesBlob(t *testing.T) {
	dir := t.TempDir()
	store, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc := files.NewService(newDB(t), store, files.Config{}, nil, quiet())
	f, err := svc.Upload(t.Context(), files.UploadRequest{OwnerID: "u", Name: "f", Body: strings.NewReader("bye")})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(t.Context(), "u", f.ID); err != nil {
		t.Fatal(err)
	}
	if blobs, _ := storeFiles(t, dir); blobs != 0 {
		t.Fatalf("%d blobs after delete, want 0", blobs)
	}
	if err := svc.Delete(t.Context(), "u", uuid.New()); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("Delete(unknown) = %v, want ErrNotFound", err)
	}
}
