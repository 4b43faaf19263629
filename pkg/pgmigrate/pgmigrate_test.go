package pgmigrate_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgmigrate"
	"github.com/cofferhq/coffer/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestApplyConcurrentReplicasApplyOnce(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fsys := fstest.MapFS{
		"0001_things.sql": {Data: []byte("CREATE TABLE things (id int PRIMARY KEY)")},
		// Not idempotent: a second run would fail with a duplicate key.
		"0002_seed.sql": {Data: []byte("INSERT INTO things VALUES (1)")},
	}
	var wg sync.WaitGroup
	counts := make([]int, 6)
	errs := make([]error, 6)
	for i := range counts {
		wg.Go(func() { counts[i], errs[i] = pgmigrate.Apply(ctx, pool, fsys, "test_migrations") })
	}
	wg.Wait()
	total := 0
	for i := range counts {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	if total != 2 {
		t.Fatalf("migrations applied across replicas = %d, want 2", total)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM things").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1", n, err)
	}
}

func TestApplyRollsBackFailedMigration(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fsys := fstest.MapFS{
		"0001_bad.sql": {Data: []byte("CREATE TABLE half (id int); SELECT no_such_function()")},
	}
	if _, err := pgmigrate.Apply(ctx, pool, fsys, "m"); err == nil {
		t.Fatal("Apply of a failing migration succeeded")
	}
	var exists bool
	pool.QueryRow(ctx, "SELECT to_regclass('half') IS NOT NULL").Scan(&exists)
	if exists {
		t.Fatal("a failed migration left its table behind")
	}
}

func TestApplyRejectsBadName(t *testing.T) {
	if _, err := pgmigrate.Apply(context.Background(), nil, fstest.MapFS{"init.sql": {}}, "m"); err == nil {
		t.Fatal("want an error for a migration without a version prefix")
	}
}
