package fsck_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	"github.com/cofferhq/coffer/services/files/internal/fsck"
	"github.com/cofferhq/coffer/services/files/internal/gc"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backend is a blob store and the hands of an operator (or a failing disk) that change its
// blobs behind the service's back.
type backend struct {
	store   fsck.Store
	remove  func(t *testing.T, key string)
	replace func(t *testing.T, key string, data []byte)
}

func backends() map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{
		"disk": func(t *testing.T) backend {
			dir := t.TempDir()
			s, err := disk.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := func(k string) string { return filepath.Join(dir, k[:2], k[2:4], k) }
			return backend{store: s,
				remove: func(t *testing.T, k string) {
					if err := os.Remove(path(k)); err != nil {
						t.Fatal(err)
					}
				},
				replace: func(t *testing.T, k string, data []byte) {
					if err := os.WriteFile(path(k), data, 0o600); err != nil {
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
			return backend{store: s,
				remove: func(t *testing.T, k string) {
					if _, err := srv.Client().DeleteObject(t.Context(), &awss3.DeleteObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(k)}); err != nil {
						t.Fatal(err)
					}
				},
				replace: func(t *testing.T, k string, data []byte) {
					if _, err := srv.Client().PutObject(t.Context(), &awss3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
						t.Fatal(err)
					}
				}}
		},
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestFsck damages blobs by hand on each backend (one deleted, one truncated, one rewritten
// with the same size, one orphan, one expired upload) and checks that fsck finds each as what
// it is, that digests catch what sizes cannot, and that --repair leaves no row serving wrong
// bytes while the healthy file keeps its own.
func TestFsck(t *testing.T) {
	for name, newBackend := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			b := newBackend(t)
			pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			if _, err := postgres.Migrate(ctx, pool); err != nil {
				t.Fatal(err)
			}
			db := postgres.New(pool)
			svc := files.NewService(db, b.store, files.Config{}, nil, quiet())
			upload := func(name, body string) files.File {
				f, err := svc.Upload(ctx, files.UploadRequest{OwnerID: "u", Name: name, Body: strings.NewReader(body)})
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			healthy := upload("healthy.txt", "all my bytes are here")
			gone := upload("gone.txt", "deleted by hand")
			short := upload("short.txt", "truncated by hand, this one")
			flipped := upload("flipped.txt", "same size, other bytes")
			b.remove(t, gone.BlobKey)
			b.replace(t, short.BlobKey, []byte("truncated"))
			b.replace(t, flipped.BlobKey, []byte("SAME SIZE, OTHER BYTES"))
			orphan := uuid.NewString()
			if _, err := b.store.Put(ctx, orphan, strings.NewReader("nobody's")); err != nil {
				t.Fatal(err)
			}
			expired := uuid.New()
			if _, err := pool.Exec(ctx, `INSERT INTO file_uploads (id, owner_id, name, content_type, size, hash_state, created_at, expires_at)
				VALUES ($1, 'u', 'abandoned', 'application/octet-stream', 10, '\x00', now() - interval '2 days', now() - interval '1 day')`, expired); err != nil {
				t.Fatal(err)
			}

			// Everything here is older than the grace as the checker's clock sees it.
			later := func() time.Time { return time.Now().Add(2 * time.Hour) }
			cfg := fsck.Config{Grace: time.Hour}
			rep, err := fsck.New(b.store, db, cfg, later, quiet()).Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"expired-upload " + expired.String(), "missing " + gone.BlobKey, "orphan " + orphan, "size " + short.BlobKey}
			if got := findings(rep); !slices.Equal(got, want) {
				t.Fatalf("without digests: findings %q, want %q", got, want)
			}
			if rep.Files != 4 || rep.Problems() != 4 || rep.Unrepaired() != 4 {
				t.Fatalf("without digests: %d files, %d problems, %d unrepaired; want 4, 4, 4", rep.Files, rep.Problems(), rep.Unrepaired())
			}

			cfg.VerifyDigests = true
			rep, err = fsck.New(b.store, db, cfg, later, quiet()).Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want = []string{"digest " + flipped.BlobKey, "expired-upload " + expired.String(), "missing " + gone.BlobKey, "orphan " + orphan, "size " + short.BlobKey}
			if got := findings(rep); !slices.Equal(got, want) || rep.Verified != 1 {
				t.Fatalf("with digests: findings %q (%d verified), want %q (1 verified)", got, rep.Verified, want)
			}

			cfg.Repair = true
			uploads := files.NewResumable(svc, db, b.store.(files.AppendStore), nil, 0, db)
			cfg.Collector = gc.New(b.store, db, db, gc.Config{Grace: time.Hour, IncompleteAge: time.Hour, WaitForLock: true, Uploads: uploads}, later, quiet())
			rep, err = fsck.New(b.store, db, cfg, later, quiet()).Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Marked != 3 || rep.Unrepaired() != 0 || rep.Collected.Uploads != 1 {
				t.Fatalf("repair: %d marked, %d unrepaired, collected %+v; want 3 marked, 0 unrepaired, the upload collected", rep.Marked, rep.Unrepaired(), rep.Collected)
			}
			for _, f := range []files.File{gone, short, flipped} {
				if _, blob, err := svc.Open(ctx, "u", f.ID); !errors.Is(err, files.ErrContentMissing) {
					if blob != nil {
						blob.Close()
					}
					t.Fatalf("%s after repair: %v, want ErrContentMissing", f.Name, err)
				}
			}
			_, blob, err := svc.Open(ctx, "u", healthy.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(blob)
			blob.Close()
			if string(got) != "all my bytes are here" {
				t.Fatalf("healthy file after repair: %q", got)
			}

			// A second check finds only the known losses: nothing for cron to alert on.
			cfg.Repair, cfg.Collector = false, nil
			rep, err = fsck.New(b.store, db, cfg, later, quiet()).Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Problems() != 0 || rep.Count(fsck.KindMarked) != 3 {
				t.Fatalf("after repair: findings %q, %d problems; want 3 marked-missing only", findings(rep), rep.Problems())
			}
		})
	}
}

// TestFsckKeepsGraceAndYoungBlobs: a deleted file's blob within the blob grace is retained,
// not an orphan; an unreferenced blob younger than the grace is listed as young (an upload
// may be about to commit its row) and is no problem.
func TestFsckKeepsGraceAndYoungBlobs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	db := postgres.New(pool)
	svc := files.NewService(db, store, files.Config{BlobGrace: time.Hour}, nil, quiet())
	f, err := svc.Upload(ctx, files.UploadRequest{OwnerID: "u", Name: "deleted.txt", Body: strings.NewReader("kept for a restore")})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, "u", f.ID); err != nil {
		t.Fatal(err)
	}
	young := uuid.NewString()
	if _, err := store.Put(ctx, young, strings.NewReader("committing")); err != nil {
		t.Fatal(err)
	}
	rep, err := fsck.New(store, db, fsck.Config{Grace: time.Hour, BlobGrace: time.Hour}, nil, quiet()).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := findings(rep); !slices.Equal(got, []string{"orphan " + young}) || !rep.Findings[0].Young || rep.Problems() != 0 || rep.Retained != 1 {
		t.Fatalf("findings %q (young %v), %d problems, %d retained; want the young orphan only, no problem, 1 retained",
			got, len(rep.Findings) > 0 && rep.Findings[0].Young, rep.Problems(), rep.Retained)
	}
}

// findings lists "kind key", sorted.
func findings(r fsck.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Kind+" "+f.Key)
	}
	slices.Sort(out)
	return out
}
