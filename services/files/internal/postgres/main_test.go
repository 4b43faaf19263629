package postgres

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(runner{m})) }

// runner runs the tests, then the cleanups of databases shared by several benchmark runs.
type runner struct{ m *testing.M }

func (r runner) Run() int {
	code := r.m.Run()
	for i := len(late.fns) - 1; i >= 0; i-- {
		late.fns[i]()
	}
	return code
}

// late holds cleanups deferred to the end of the test binary.
var late struct {
	mu  sync.Mutex
	fns []func()
}

// keepTB is a TB whose cleanups run when the test binary ends, for fixtures (a million rows)
// too costly to rebuild for every benchmark round.
type keepTB struct{ testing.TB }

func (k keepTB) Cleanup(f func()) {
	late.mu.Lock()
	defer late.mu.Unlock()
	late.fns = append(late.fns, f)
}

// newDB returns a migrated DB on a fresh database and its pool.
func newDB(tb testing.TB) (*DB, *pgxpool.Pool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := NewPool(ctx, pgtest.NewDatabase(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if _, err := Migrate(ctx, pool); err != nil {
		tb.Fatal(err)
	}
	return New(pool), pool
}

// newFile stores a one-byte file of owner's, named and keyed by its new id, and returns the id.
func newFile(t testing.TB, db *DB, owner string, at time.Time) uuid.UUID {
	t.Helper()
	f := files.File{ID: uuid.New(), OwnerID: owner, Name: "f-" + uuid.NewString(), Size: 1, SHA256: make([]byte, 32), ContentType: "x", CreatedAt: at}
	f.BlobKey = f.ID.String()
	if err := db.CreateFile(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return f.ID
}
