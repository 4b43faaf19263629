package postgres

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// loadFiles COPYs n rows spread over owners owners ("owner-0000"...), created over the past
// year, then analyses the table. The usage trigger is off during the load (it would cost a
// row update per file) and its table is rebuilt afterwards.
func loadFiles(tb testing.TB, pool *pgxpool.Pool, n, owners int) {
	tb.Helper()
	ctx := context.Background()
	var sum [32]byte
	rand.Read(sum[:])
	base := time.Now().Add(-365 * 24 * time.Hour)
	rng := mrand.New(mrand.NewPCG(1, 2))
	i := 0
	if _, err := pool.Exec(ctx, `ALTER TABLE files DISABLE TRIGGER files_usage`); err != nil {
		tb.Fatal(err)
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"files"},
		[]string{"id", "owner_id", "name", "size", "sha256", "content_type", "blob_key", "created_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			id := uuid.New()
			return []any{id, fmt.Sprintf("owner-%04d", rng.IntN(owners)), fmt.Sprintf("file-%07d.bin", i), int64(rng.IntN(1 << 20)),
				sum[:], "application/octet-stream", id.String(), base.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))}, nil
		}))
	if err != nil {
		tb.Fatal(err)
	}
	for _, q := range []string{
		`ALTER TABLE files ENABLE TRIGGER files_usage`,
		`INSERT INTO file_usage (owner_id, used_bytes) SELECT owner_id, sum(size) FROM files GROUP BY owner_id
			ON CONFLICT (owner_id) DO UPDATE SET used_bytes = EXCLUDED.used_bytes`,
		`ANALYZE files`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
}

// explain returns the JSON plan of a query.
func explain(tb testing.TB, pool *pgxpool.Pool, analyze bool, q string, args ...any) string {
	tb.Helper()
	opts := "FORMAT JSON"
	if analyze {
		opts = "ANALYZE, BUFFERS, FORMAT JSON"
	}
	var plan []byte
	if err := pool.QueryRow(context.Background(), "EXPLAIN ("+opts+") "+q, args...).Scan(&plan); err != nil {
		tb.Fatal(err)
	}
	return string(plan)
}

// TestListIsIndexBacked: every listing query (first page, later pages, with a prefix) walks
// the files_owner_created index in order and needs no sort, so its cost does not grow with
// the table or the user's file count.
func TestListIsIndexBacked(t *testing.T) {
	db, pool := newDB(t)
	loadFiles(t, pool, 50_000, 50)
	cursor := encodeCursor(time.Now().Add(-100*24*time.Hour), uuid.New())
	for _, opts := range []files.ListOptions{
		{Limit: 50}, {Limit: 50, Cursor: cursor}, {Limit: 50, Prefix: "file-00"}, {Limit: 100, Cursor: cursor, Prefix: "file-"},
	} {
		q, args, err := listQuery("owner-0007", opts)
		if err != nil {
			t.Fatal(err)
		}
		plan := explain(t, pool, false, q, args...)
		if !strings.Contains(plan, `"Index Name": "files_owner_created"`) || strings.Contains(plan, `"Node Type": "Sort"`) ||
			strings.Contains(plan, `"Node Type": "Seq Scan"`) {
			t.Errorf("plan for %+v does not walk files_owner_created without sorting:\n%s", opts, plan)
		}
	}

	// The pages themselves: newest first, and a walk visits each of the owner's rows once.
	var n int64
	pool.QueryRow(context.Background(), `SELECT count(*) FROM files WHERE owner_id = 'owner-0007'`).Scan(&n)
	seen := map[uuid.UUID]bool{}
	var last time.Time
	opts := files.ListOptions{Limit: 333}
	for {
		p, err := db.ListFiles(context.Background(), "owner-0007", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range p.Files {
			if seen[f.ID] || f.OwnerID != "owner-0007" || (!last.IsZero() && f.CreatedAt.After(last)) {
				t.Fatalf("row %v (owner %s, %v after %v) repeated, foreign or out of order", f.ID, f.OwnerID, f.CreatedAt, last)
			}
			seen[f.ID], last = true, f.CreatedAt
		}
		if p.NextCursor == "" {
			break
		}
		opts.Cursor = p.NextCursor
	}
	if int64(len(seen)) != n {
		t.Fatalf("walk saw %d rows, the owner has %d", len(seen), n)
	}
}

// big is a database holding a million files, shared by every round of BenchmarkList.
var big struct {
	once sync.Once
	db   *DB
	pool *pgxpool.Pool
}

// BenchmarkList measures the 50-newest listing of one user with 1,000,000 rows in the table
// (1,000 owners of about 1,000 files each; docs/PERFORMANCE.md target: p99 <= 5 ms). It reports
// the p50 and p99 latency of the full call through the pgx pool.
func BenchmarkList(b *testing.B) {
	big.once.Do(func() {
		start := time.Now()
		big.db, big.pool = newDB(keepTB{b})
		loadFiles(b, big.pool, 1_000_000, 1000)
		b.Logf("loaded 1,000,000 rows in %v", time.Since(start).Round(time.Millisecond))
		q, args, _ := listQuery("owner-0042", files.ListOptions{Limit: 51})
		var plan []map[string]any
		json.Unmarshal([]byte(explain(b, big.pool, true, q, args...)), &plan)
		b.Logf("EXPLAIN ANALYZE of the first page: top node %v, index %v, execution %v ms",
			plan[0]["Plan"].(map[string]any)["Node Type"], indexName(plan[0]["Plan"]), plan[0]["Execution Time"])
		// Measure the steady state: one pass over every owner first, so the figures are not
		// those of the first read of each page from disk after the load.
		start = time.Now()
		for o := range 1000 {
			if _, err := big.db.ListFiles(context.Background(), fmt.Sprintf("owner-%04d", o), files.ListOptions{Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("cold pass over 1,000 owners: %v", time.Since(start).Round(time.Millisecond))
	})
	for _, bc := range []struct {
		name   string
		cursor bool
	}{{"newest50", false}, {"page2", true}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			rng := mrand.New(mrand.NewPCG(3, 4))
			lat := make([]time.Duration, 0, b.N)
			cursors := map[string]string{}
			b.ResetTimer()
			for range b.N {
				owner := fmt.Sprintf("owner-%04d", rng.IntN(1000))
				opts := files.ListOptions{Limit: 50}
				if bc.cursor {
					c, ok := cursors[owner]
					if !ok {
						b.StopTimer()
						p, _ := big.db.ListFiles(ctx, owner, opts)
						c, cursors[owner] = p.NextCursor, p.NextCursor
						b.StartTimer()
					}
					opts.Cursor = c
				}
				t0 := time.Now()
				p, err := big.db.ListFiles(ctx, owner, opts)
				lat = append(lat, time.Since(t0))
				if err != nil || len(p.Files) != 50 {
					b.Fatalf("list %s: %d files, %v", owner, len(p.Files), err)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[int(math.Ceil(p*float64(len(lat))))-1].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}

// indexName finds the first index a plan node (or its children) scans.
func indexName(node any) any {
	m, _ := node.(map[string]any)
	if name, ok := m["Index Name"]; ok {
		return name
	}
	plans, _ := m["Plans"].([]any)
	for _, p := range plans {
		if n := indexName(p); n != nil {
			return n
		}
	}
	return nil
}
