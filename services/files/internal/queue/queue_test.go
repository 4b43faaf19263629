package queue_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/queue"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a migrated database, its store, and a running queue that delivers with a sender
// allowed to reach the test's loopback receivers.
type env struct {
	pool  *pgxpool.Pool
	db    *postgres.DB
	q     *queue.Queue
	admin *webhook.Admin
}

func newEnv(t *testing.T, deps queue.Deps) *env {
	t.Helper()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := queue.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := queue.Migrate(ctx, pool); err != nil { // again: idempotent
		t.Fatal(err)
	}
	db := postgres.New(pool)
	deps.Store = db
	if deps.Sender == nil {
		deps.Sender = webhook.NewSender(webhook.Guard{AllowLocal: true}.Client(2*time.Second), nil)
	}
	deps.Logger = slog.New(slog.DiscardHandler)
	cfg := queue.DefaultConfig()
	cfg.RetryBase, cfg.RetryMax, cfg.DeliveryTimeout, cfg.ScanRetryMax = 50*time.Millisecond, 200*time.Millisecond, 2*time.Second, 200*time.Millisecond
	q, err := queue.New(pool, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	db.SetQueue(q)
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("queue Run: %v", err)
		}
	})
	return &env{pool: pool, db: db, q: q, admin: webhook.NewAdmin(db, q, webhook.Guard{AllowLocal: true}, nil)}
}

// receiver records deliveries, checks their signatures, and answers fail first.
type receiver struct {
	t       *testing.T
	key     []byte
	mu      sync.Mutex
	fail    int // answer 503 to this many requests first
	got     []delivery
	invalid int
}

type delivery struct {
	ID   string
	Type string `json:"type"`
	Data files.EventData
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !webhook.Verify(rc.key, r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now(), 5*time.Minute) {
		rc.invalid++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var d delivery
	if err := json.Unmarshal(body, &d); err != nil {
		rc.t.Errorf("body %s: %v", body, err)
	}
	d.ID = r.Header.Get("webhook-id")
	rc.got = append(rc.got, d)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) subscribe(t *testing.T, rc *receiver, url string, types ...string) webhook.Subscription {
	t.Helper()
	s, err := e.admin.Create(t.Context(), url, types)
	if err != nil {
		t.Fatal(err)
	}
	if rc != nil {
		if rc.key, err = webhook.SecretKey(s.Secret); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (e *env) file(t *testing.T, owner string) files.File {
	t.Helper()
	f := files.File{ID: uuid.New(), OwnerID: owner, Name: "a.txt", Size: 3, SHA256: make([]byte, 32), ContentType: "text/plain", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	f.BlobKey = f.ID.String()
	if err := e.db.CreateFile(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDeliveryRetriedUntilDelivered: a receiver that is down for the first attempts gets every
// event once it is back, each signed, with the event's id as webhook-id; a subscription to
// other types gets none; a failing receiver's deliveries are listed and can be retried by hand.
func TestDeliveryRetriedUntilDelivered(t *testing.T) {
	e := newEnv(t, queue.Deps{})
	ctx := t.Context()
	rc := &receiver{t: t, fail: 3}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	e.subscribe(t, rc, srv.URL+"/hook", files.EventShareCreated, files.EventShareRevoked)
	other := &receiver{t: t}
	osrv := httptest.NewServer(other)
	defer osrv.Close()
	e.subscribe(t, other, osrv.URL, files.EventLinkCreated)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusTeapot) }))
	defer broken.Close()
	bsub := e.subscribe(t, nil, broken.URL, files.EventShareRevoked)

	f := e.file(t, "alice")
	sharing := files.NewSharing(e.db, nil)
	if _, err := sharing.Share(ctx, "alice", f.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := sharing.Share(ctx, "alice", f.ID, "bob"); err != nil { // no change, no event
		t.Fatal(err)
	}
	if _, err := sharing.Share(ctx, "mallory", f.ID, "eve"); err == nil { // refused: no event
		t.Fatal("mallory shared alice's file")
	}
	if err := sharing.Unshare(ctx, "alice", f.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two deliveries", 30*time.Second, func() bool { return len(rc.deliveries()) >= 2 })
	got := rc.deliveries()
	// Deliveries carry no order (a retried one arrives after later events): sort by type.
	slices.SortFunc(got, func(a, b delivery) int { return strings.Compare(a.Type, b.Type) })
	if len(got) != 2 || got[0].Type != files.EventShareCreated || got[1].Type != files.EventShareRevoked {
		t.Fatalf("deliveries = %+v, want share.created and share.revoked", got)
	}
	for _, d := range got {
		if d.Data.FileID != f.ID.String() || d.Data.OwnerID != "alice" || d.Data.UserID != "bob" {
			t.Errorf("delivery data = %+v", d.Data)
		}
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM file_events WHERE id = $1`, uuid.MustParse(d.ID)).Scan(&n); err != nil || n != 1 {
			t.Errorf("webhook-id %s is not an event id (%d, %v)", d.ID, n, err)
		}
	}
	if rc.invalid != 0 {
		t.Errorf("%d deliveries had invalid signatures", rc.invalid)
	}
	if n := len(other.deliveries()); n != 0 {
		t.Errorf("link.created subscriber got %d share deliveries", n)
	}

	var failed []webhook.Delivery
	eventually(t, "the broken receiver's delivery listed as failed", 30*time.Second, func() bool {
		var err error
		failed, err = e.admin.Failed(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(failed) == 1 && failed[0].SubscriptionID == bsub.ID.String()
	})
	if failed[0].LastError == "" || failed[0].EventID != got[1].ID {
		t.Errorf("failed delivery = %+v, want the share.revoked event and its error", failed[0])
	}
	if n, err := e.db.FailingDeliveries(ctx); err != nil || n != 1 {
		t.Errorf("FailingDeliveries = %d, %v; want 1", n, err)
	}
	if err := e.admin.Retry(ctx, failed[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Retry(ctx, 1<<40); err == nil {
		t.Error("Retry of an unknown delivery succeeded")
	}
}

// TestRolledBackChangeEmitsNothing: a change that fails records no event and enqueues no job.
func TestRolledBackChangeEmitsNothing(t *testing.T) {
	e := newEnv(t, queue.Deps{})
	ctx := t.Context()
	counts := func() (events, jobs int) {
		t.Helper()
		if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM file_events), (SELECT count(*) FROM river_job)`).Scan(&events, &jobs); err != nil {
			t.Fatal(err)
		}
		return events, jobs
	}
	f := e.file(t, "alice")
	events0, jobs0 := counts()
	if events0 != 1 || jobs0 != 1 {
		t.Fatalf("after a file's creation: events %d, jobs %d; want 1, 1 (file.created)", events0, jobs0)
	}
	if err := files.NewSharing(e.db, nil).Unshare(ctx, "alice", f.ID, "nobody"); err == nil {
		t.Fatal("unshare of a missing share succeeded")
	}
	if _, err := e.db.DeleteFile(ctx, "mallory", f.ID); err == nil {
		t.Fatal("mallory deleted alice's file")
	}
	dup := f
	dup.BlobKey = "other"
	if err := e.db.CreateFile(ctx, dup); err == nil { // same id: the insert fails, so does its event
		t.Fatal("a second file with the same id was created")
	}
	if events, jobs := counts(); events != events0 || jobs != jobs0 {
		t.Errorf("events %d, jobs %d after failed changes; want %d, %d", events, jobs, events0, jobs0)
	}
	if _, err := e.db.DeleteFile(ctx, "alice", f.ID); err != nil {
		t.Fatal(err)
	}
	if events, jobs := counts(); events != events0+1 || jobs != jobs0+1 {
		t.Errorf("after a delete: events %d, jobs %d; want %d, %d", events, jobs, events0+1, jobs0+1)
	}
}
