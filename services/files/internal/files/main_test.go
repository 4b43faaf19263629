package files_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
)

// The domain's rules are tested here against the real parts: a migrated PostgreSQL database
// of its own per test (pkg/pgtest) and a disk blob store in a temporary folder.
func TestMain(m *testing.M) { pgtest.Main(m) }

// env is one test's database, blob store and clock.
type env struct {
	t     *testing.T
	pool  *pgxpool.Pool
	db    *postgres.DB
	blobs *disk.Store
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	blobs, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, pool: pool, db: postgres.New(pool), blobs: blobs, clock: &clock{now: time.Now().UTC().Truncate(time.Second)}}
}

// service is a Service with a 1 MiB file limit.
func (e *env) service() *files.Service {
	return files.NewService(e.db, e.blobs, files.Config{MaxFileSize: 1 << 20}, e.clock.Now, slog.New(slog.DiscardHandler))
}

// blobCount is how many blobs the store holds.
func (e *env) blobCount() int {
	e.t.Helper()
	n := 0
	if err := e.blobs.ListBlobs(e.t.Context(), time.Now().Add(time.Hour), func(files.BlobInfo) error { n++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// count runs a SELECT count(*) query.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.t.Context(), query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
