package fence_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/files/internal/fence"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func startListener(t *testing.T, dsn string, lease time.Duration) *fence.Listener {
	t.Helper()
	l := fence.NewListener(fence.Options{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, dsn) },
		Lease:   lease,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func currentLSN(t *testing.T, conn *pgx.Conn) fence.LSN {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), "SELECT pg_current_wal_insert_lsn()::text").Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := fence.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// TestFenceAcrossNodes: a notice published in a committed transaction reaches every node
// with a fence at or past the commit; Await returns only once both nodes hold it and their
// (slow) subscribers have run, even on a node subscribed for less than a lease, which cannot
// yet know every node that trusts replicas; once settled, Await returns on the
// acknowledgements, well before the lease; a rolled back notice reaches nobody; and a node
// whose subscription is cut stops trusting replicas until it has subscribed again and read a
// fence at least as new as the primary's position.
func TestFenceAcrossNodes(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	// Far longer than the acknowledgements take, even on a loaded machine, so that Await
	// returning before it proves it waited for the acknowledgements, not the lease.
	const lease = 8 * time.Second
	var mu sync.Mutex
	heard := map[string][]fence.Notice{}
	delay := map[string]time.Duration{"a": 100 * time.Millisecond, "b": time.Second}
	// Slow subscribers (a cache, say): a node acknowledges only after its own have run.
	slow := func(node string) func(fence.Notice) {
		return func(n fence.Notice) {
			mu.Lock()
			d := delay[node]
			mu.Unlock()
			time.Sleep(d)
			mu.Lock()
			heard[node] = append(heard[node], n)
			mu.Unlock()
		}
	}
	// b subscribes and trusts replicas first; a comes up after b's heartbeat, so a has not
	// heard of b when it publishes at once.
	b := startListener(t, dsn, lease)
	b.Subscribe(slow("b"))
	waitFor(t, "b's trusted subscription", func() bool { _, ok := b.Fence(); return ok })
	a := startListener(t, dsn, lease)
	a.Subscribe(slow("a"))
	waitFor(t, "a's trusted subscription", func() bool { _, ok := a.Fence(); return ok })

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// Rolled back: never delivered.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fence.Publish(ctx, tx, fence.Notice{Kind: fence.FileDeleted, FileID: uuid.New()}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)

	// publish commits one notice and returns its id and a WAL position below its commit.
	publish := func(n fence.Notice) (string, fence.LSN) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id, err := fence.Publish(ctx, tx, n)
		if err != nil {
			t.Fatal(err)
		}
		committed := currentLSN(t, tx.Conn())
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return id, committed
	}
	// check: when Await returned, both nodes hold a fence past the commit and both slow
	// subscribers have heard the notice.
	check := func(want int, fileID uuid.UUID, committed fence.LSN) {
		t.Helper()
		for name, l := range map[string]*fence.Listener{"a": a, "b": b} {
			if f, ok := l.Fence(); !ok || f <= committed {
				t.Errorf("node %s: fence %v (trusted %v), want >= %v", name, f, ok, committed)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, node := range []string{"a", "b"} {
			h := heard[node]
			if len(h) != want || h[want-1].FileID != fileID || h[want-1].LSN <= committed {
				t.Errorf("%s's subscriber heard %+v when Await returned, want %d notices, the last for %v past %v", node, h, want, fileID, committed)
			}
		}
	}

	// A young node: a may not know b yet, so it waits until it has listened for a lease.
	first := uuid.New()
	id, committed := publish(fence.Notice{Kind: fence.ShareRevoked, FileID: first, OwnerID: "alice", UserID: "bob"})
	if err := a.Await(ctx, id); err != nil {
		t.Fatal(err)
	}
	check(1, first, committed)

	// Settled: Await returns on the acknowledgements, and on its own node's subscriber,
	// now the slower one.
	waitFor(t, "a settled", a.Settled)
	mu.Lock()
	delay["a"], delay["b"] = time.Second, 100*time.Millisecond
	mu.Unlock()
	second := uuid.New()
	id, committed = publish(fence.Notice{Kind: fence.FileDeleted, FileID: second, OwnerID: "alice"})
	start := time.Now()
	if err := a.Await(ctx, id); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= lease {
		t.Errorf("Await took %v: it waited out the lease instead of the acknowledgements", took)
	}
	check(2, second, committed)

	// Cut a's subscription: it stops trusting replicas at once, and comes back with a fence
	// at least as new as the primary's position when it was cut.
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE (query LIKE 'SELECT pg_notify%' OR query LIKE 'LISTEN%' OR query LIKE '%pg_current_wal_insert_lsn%')
			AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	cut := currentLSN(t, conn)
	waitFor(t, "untrusted after the cut", func() bool { _, ok := a.Fence(); return !ok })
	waitFor(t, "trusted again", func() bool { f, ok := a.Fence(); return ok && f >= cut })
}

func TestParseLSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want fence.LSN
		ok   bool
	}{
		{"0/0", 0, true},
		{"16/B374D848", 0x16_B374D848, true},
		{"FFFFFFFF/FFFFFFFF", 1<<64 - 1, true},
		{"16B374D848", 0, false},
		{"1/2/3", 0, false},
		{"G/0", 0, false},
	} {
		got, err := fence.ParseLSN(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

// TestSubscribersBeforeAcknowledgement: a node's own Await returns only after its
// subscribers (a node-local cache) have taken the notice, and a lost subscription reaches
// the subscribers as SubscriptionLost before the node trusts a new one.
func TestSubscribersBeforeAcknowledgement(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	const lease = 20 * time.Second
	a := startListener(t, dsn, lease)
	var mu sync.Mutex
	var heard []fence.Notice
	a.Subscribe(func(n fence.Notice) {
		time.Sleep(300 * time.Millisecond) // a slow cache: Await must wait for it
		mu.Lock()
		heard = append(heard, n)
		mu.Unlock()
	})
	waitFor(t, "trusted subscription", func() bool { _, ok := a.Fence(); return ok })
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	fileID := uuid.New()
	id, err := fence.Publish(ctx, conn, fence.Notice{Kind: fence.FileDeleted, FileID: fileID})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Await(ctx, id); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(heard) != 1 || heard[0].FileID != fileID {
		t.Errorf("when Await returned the subscriber had heard %+v, want the notice", heard)
	}
	mu.Unlock()

	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "trusted again", func() bool {
		_, ok := a.Fence()
		mu.Lock()
		defer mu.Unlock()
		return ok && len(heard) > 1
	})
	mu.Lock()
	if heard[len(heard)-1].Kind != fence.SubscriptionLost {
		t.Errorf("after the cut the subscriber heard %+v, want %s last", heard[1:], fence.SubscriptionLost)
	}
	mu.Unlock()
}

// TestGrantFencesOnlyItsUsers: a grant notice (a new file) reaches subscribers with a position
// past its commit but leaves the node's fence alone, so other reads stay on replicas; a
// revocation moves the fence.
func TestGrantFencesOnlyItsUsers(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	l := startListener(t, dsn, 2*time.Second)
	var mu sync.Mutex
	var heard []fence.Notice
	l.Subscribe(func(n fence.Notice) {
		mu.Lock()
		heard = append(heard, n)
		mu.Unlock()
	})
	waitFor(t, "trusted subscription", func() bool { _, ok := l.Fence(); return ok })
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	publish := func(n fence.Notice) fence.LSN {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fence.Publish(ctx, tx, n); err != nil {
			t.Fatal(err)
		}
		committed := currentLSN(t, tx.Conn())
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return committed
	}
	before, _ := l.Fence()
	committed := publish(fence.Notice{Kind: fence.FileCreated, FileID: uuid.New(), OwnerID: "alice", Grant: true})
	waitFor(t, "the grant heard", func() bool { mu.Lock(); defer mu.Unlock(); return len(heard) == 1 })
	if f, _ := l.Fence(); f != before {
		t.Errorf("fence moved from %v to %v on a grant", before, f)
	}
	mu.Lock()
	if heard[0].OwnerID != "alice" || !heard[0].Grant || heard[0].LSN <= committed {
		t.Errorf("subscriber heard %+v, want alice's grant past %v", heard[0], committed)
	}
	mu.Unlock()
	committed = publish(fence.Notice{Kind: fence.FileDeleted, FileID: uuid.New(), OwnerID: "alice"})
	waitFor(t, "the revocation's fence", func() bool { f, _ := l.Fence(); return f > committed })
}
