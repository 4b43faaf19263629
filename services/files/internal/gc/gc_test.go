package gc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/gc"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newDB(t *testing.T) *postgres.DB {
	t.Helper()
	db, _ := newDBPool(t)
	return db
}

func newDBPool(t *testing.T) (*postgres.DB, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	return postgres.New(pool), pool
}

// backend is a blob store plus a way to leave an interrupted write in it, as a crash would.
type backend struct {
	store       gc.Store
	interrupted func(t *testing.T) // leaves one interrupted write behind
}

func backends(t *testing.T) map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{
		"disk": func(t *testing.T) backend {
			dir := t.TempDir()
			s, err := disk.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			return backend{store: s, interrupted: func(t *testing.T) {
				k := uuid.NewString()
				sub := filepath.Join(dir, k[:2], k[2:4])
				if err := os.MkdirAll(sub, 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(sub, ".tmp-"+k+"-123"), []byte("partial"), 0o600); err != nil {
					t.Fatal(err)
				}
			}}
		},
		"s3": func(t *testing.T) backend {
			srv := s3test.Start(t)
			s, err := s3.New(s3.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
			if err != nil {
				t.Fatal(err)
			}
			return backend{store: s, interrupted: func(t *testing.T) {
				_, err := srv.Client().CreateMultipartUpload(t.Context(), &awss3.CreateMultipartUploadInput{
					Bucket: aws.String(srv.Bucket), Key: aws.String(uuid.NewString()),
				})
				if err != nil {
					t.Fatal(err)
				}
			}}
		},
	}
}

func logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func exists(t *testing.T, s files.BlobStore, key string) bool {
	t.Helper()
	b, err := s.Open(t.Context(), key)
	if errors.Is(err, files.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	return true
}

func TestCollect(t *testing.T) {
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			b := newBackend(t)
			db := newDB(t)
			svc := files.NewService(db, b.store, files.Config{}, nil, logger())
			kept, err := svc.Upload(ctx, files.UploadRequest{OwnerID: "u1", Name: "kept.txt", Body: bytes.NewReader([]byte("keep me"))})
			if err != nil {
				t.Fatal(err)
			}
			orphan := uuid.NewString()
			if _, err := b.store.Put(ctx, orphan, bytes.NewReader([]byte("no row"))); err != nil {
				t.Fatal(err)
			}
			b.interrupted(t)
			// An object the service did not make, sharing the store: never collected.
			foreign := "notes-keep-me"
			if _, err := b.store.Put(ctx, foreign, bytes.NewReader([]byte("not a blob"))); err != nil {
				t.Fatal(err)
			}

			// Within the grace period nothing is touched: the orphan could be an upload
			// about to commit.
			young := gc.New(b.store, db, db, gc.Config{Grace: time.Hour, IncompleteAge: time.Hour}, nil, logger())
			res, err := young.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res != (gc.Result{}) || !exists(t, b.store, orphan) {
				t.Fatalf("young run: %+v, orphan exists %v; want nothing removed", res, exists(t, b.store, orphan))
			}

			later := func() time.Time { return time.Now().Add(2 * time.Hour) }
			c := gc.New(b.store, db, db, gc.Config{Grace: time.Hour, IncompleteAge: time.Hour}, later, logger())
			res, err = c.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := (gc.Result{Orphans: 1, Incomplete: 1}); res != want {
				t.Fatalf("RunOnce = %+v, want %+v", res, want)
			}
			if exists(t, b.store, orphan) {
				t.Fatal("orphan blob survived")
			}
			if !exists(t, b.store, kept.BlobKey) {
				t.Fatal("a referenced blob was collected")
			}
			if !exists(t, b.store, foreign) {
				t.Fatal("an object the service did not make was collected")
			}
			if _, blob, err := svc.Open(ctx, "u1", kept.ID); err != nil {
				t.Fatalf("kept file: %v", err)
			} else {
				blob.Close()
			}
			// A second run finds nothing.
			if res, err := c.RunOnce(ctx); err != nil || res != (gc.Result{}) {
				t.Fatalf("second run = %+v, %v; want nothing", res, err)
			}
		})
	}
}

// TestConcurrentCollectors: several nodes collecting at once, with or without the shared lock,
// delete every orphan, never a referenced blob, and report no error.
func TestConcurrentCollectors(t *testing.T) {
	for _, withLock := range []bool{false, true} {
		t.Run(map[bool]string{false: "no-lock", true: "lock"}[withLock], func(t *testing.T) {
			ctx := t.Context()
			s, err := disk.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			db := newDB(t)
			svc := files.NewService(db, s, files.Config{}, nil, logger())
			var keptKeys, orphans []string
			for i := range 20 {
				f, err := svc.Upload(ctx, files.UploadRequest{OwnerID: "u", Name: "f", Body: bytes.NewReader([]byte{byte(i)})})
				if err != nil {
					t.Fatal(err)
				}
				keptKeys = append(keptKeys, f.BlobKey)
				k := uuid.NewString()
				if _, err := s.Put(ctx, k, bytes.NewReader([]byte{byte(i)})); err != nil {
					t.Fatal(err)
				}
				orphans = append(orphans, k)
			}
			later := func() time.Time { return time.Now().Add(2 * time.Hour) }
			var locker gc.Locker
			if withLock {
				locker = db
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			for range 4 {
				wg.Go(func() {
					c := gc.New(s, db, locker, gc.Config{BatchSize: 3}, later, logger())
					res, err := c.RunOnce(ctx)
					if err != nil {
						t.Errorf("RunOnce: %v", err)
					}
					mu.Lock()
					total += res.Orphans
					mu.Unlock()
				})
			}
			wg.Wait()
			for _, k := range orphans {
				if exists(t, s, k) {
					t.Fatalf("orphan %s survived", k)
				}
			}
			for _, k := range keptKeys {
				if !exists(t, s, k) {
					t.Fatalf("referenced blob %s was deleted", k)
				}
			}
			if withLock && total != len(orphans) {
				t.Fatalf("with the lock, %d deletions reported for %d orphans", total, len(orphans))
			}
		})
	}
}

// TestLockSkipsAndWaits: while one node holds the lock, a periodic run skips and a waiting run
// waits for it.
func TestLockSkipsAndWaits(t *testing.T) {
	ctx := t.Context()
	s, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, pool := newDBPool(t)
	release, ok, err := db.Lock(ctx, gc.LockID, false)
	if err != nil || !ok {
		t.Fatalf("Lock = %v, %v", ok, err)
	}
	res, err := gc.New(s, db, db, gc.Config{}, nil, logger()).RunOnce(ctx)
	if err != nil || !res.Skipped {
		t.Fatalf("RunOnce while locked = %+v, %v; want Skipped", res, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := gc.New(s, db, db, gc.Config{WaitForLock: true}, nil, logger()).RunOnce(ctx)
		done <- err
	}()
	// Poll until PostgreSQL shows the second run queued on the lock.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("waiting run returned while the lock was held: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiting run never queued on the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("waiting run did not finish after the lock was released")
	}
}

// TestRunStopsWithContext: the periodic loop returns when its context ends.
func TestRunStopsWithContext(t *testing.T) {
	s, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db := newDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		gc.New(s, db, db, gc.Config{}, nil, logger()).Run(ctx, 10*time.Millisecond)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
