package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/pkg/pgcluster"
)

// replicaCluster is a primary with pg_stat_statements and one streaming replica, holding
// the auth and files databases, for the life of one test.
type replicaCluster struct {
	primary  *pgcluster.Cluster
	replicas []*pgcluster.Cluster
	replica  *pgcluster.Cluster // the first
}

func startReplicaCluster(t testing.TB, replicas int) *replicaCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := pgcluster.Start(ctx, pgcluster.Options{Settings: []string{"shared_preload_libraries=pg_stat_statements"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background()) })
	for _, db := range []string{"auth", "files"} {
		if err := p.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, p.DSN("files"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	rc := &replicaCluster{primary: p}
	for range replicas {
		r, err := p.StartReplica(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Stop(context.Background()) }) // before the primary's (cleanups run last first)
		rc.replicas = append(rc.replicas, r)
	}
	rc.replica = rc.replicas[0]
	return rc
}

// fileLookups counts the file lookups (FileByID, the query of every download) a server ran.
func fileLookups(t testing.TB, dsn string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
		WHERE query LIKE '%FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS k(file_id, user_id, n)%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// statementCalls returns, per statement text, how often the server ran it in the files
// database (pg_stat_statements).
func statementCalls(t testing.TB, dsn string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT query, sum(calls)::bigint FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) GROUP BY query`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var q string
		var n int64
		if err := rows.Scan(&q, &n); err != nil {
			t.Fatal(err)
		}
		out[q] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// backgroundStatement reports whether a statement runs on a timer rather than on a request's
// path: the audit log's batched writes (a download's file.download record joins a batch,
// written at most once per node every 200 ms: begin, lock, last hash, copy, commit), the
// fence's heartbeats and acknowledgements, the job queue's polling, and the tests' own reads
// of pg_stat_statements.
func backgroundStatement(q string) bool {
	q = strings.ToLower(strings.TrimSpace(q))
	switch {
	case q == "begin", q == "commit",
		q == "select pg_advisory_xact_lock(hashtext($1))",
		strings.HasPrefix(q, "select seq, hash from file_audit_log"),
		strings.HasPrefix(q, `copy "file_audit_log"`),
		strings.HasPrefix(q, "select pg_notify($1, $2)"),
		strings.Contains(q, "river_"),
		strings.Contains(q, "pg_stat_statements"):
		return true
	}
	return false
}

// requestStatements is the number of statements, other than background ones, that the
// server ran between two statementCalls snapshots, with the statements named.
func requestStatements(before, after map[string]int64) (int64, []string) {
	var n int64
	var which []string
	for q, calls := range after {
		if d := calls - before[q]; d > 0 && !backgroundStatement(q) {
			n += d
			which = append(which, fmt.Sprintf("%d× %s", d, q))
		}
	}
	return n, which
}

// waitReplayed waits until the replica has replayed everything the primary wrote so far.
func (rc *replicaCluster) waitReplayed(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	p, err := pgx.Connect(ctx, rc.primary.DSN("files"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	var lsn string
	if err := p.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	for _, rep := range rc.replicas {
		r, err := pgx.Connect(ctx, rep.DSN("files"))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "replica replayed "+lsn, func() bool {
			var ok bool
			err := r.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&ok)
			return err == nil && ok
		})
		r.Close(ctx)
	}
}

func sqlExec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestReplicaReadsAndFences: two file nodes read from a streaming replica. Downloads of
// unchanged files run no lookup on the primary. With the replica's replay paused, a share
// revoked, a file deleted and a link revoked are refused at once through both nodes, and a
// file uploaded through one node downloads at once through the other; after the replay
// resumes, reads return to the replica.
func TestReplicaReadsAndFences(t *testing.T) {
	rc := startReplicaCluster(t, 1)
	var k [32]byte
	rand.Read(k[:])
	s := &stack{t: t, kek: base64.StdEncoding.EncodeToString(k[:]), authDB: rc.primary.DSN("auth"), fileDB: rc.primary.DSN("files")}
	s.Auth = s.StartAuth(nil)
	dir := t.TempDir()
	env := map[string]string{
		"COFFER_FILES_DATA_DIR":              dir,
		"COFFER_FILES_LINK_KEY":              newLinkKey(),
		"COFFER_FILES_DATABASE_REPLICA_URLS": rc.replica.DSN("files"),
	}
	s.Files = append(s.Files, s.StartFiles(env), s.StartFiles(env))
	nodes := []string{s.Files[0].URL, s.Files[1].URL}
	c := s.client() // uploads and link creation go through node 0
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	shared := c.upload(alice.Token, "shared", []byte("shared bytes"))
	doomed := c.upload(alice.Token, "doomed", []byte("doomed bytes"))
	linked := c.upload(alice.Token, "linked", []byte("linked bytes"))
	kept := c.upload(alice.Token, "kept", []byte("kept bytes"))
	share := `{"user_id":"` + bob.ID + `"}`
	if r := c.do("POST", nodes[0]+"/v1/files/"+shared.ID+"/shares", strings.NewReader(share), with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated {
		t.Fatalf("share: %d %s", r.Status, r.Body)
	}
	link, r := c.createLink(alice.Token, linked.ID, map[string]int{"expires_in": 600})
	if r.Status != http.StatusCreated {
		t.Fatalf("create link: %d %s", r.Status, r.Body)
	}

	primaryDSN, replicaDSN := rc.primary.DSN("files"), rc.replica.DSN("files")
	get := func(node, path, tok string) response {
		var h map[string]string
		if tok != "" {
			h = bearer(tok)
		}
		return c.do("GET", node+path, nil, h)
	}
	// Each node reads from the replica once it has caught up with the setup.
	for _, node := range nodes {
		waitFor(t, 30*time.Second, "node reading from the replica", func() bool {
			before := fileLookups(t, replicaDSN)
			r := get(node, "/v1/files/"+kept.ID+"/content", alice.Token)
			return r.Status == 200 && fileLookups(t, replicaDSN) > before
		})
	}

	// Unchanged files: no lookup on the primary, once the replica has replayed the setup
	// (a share it has not seen yet is a miss, which the primary answers).
	rc.waitReplayed(t)
	primaryBefore, replicaBefore := fileLookups(t, primaryDSN), fileLookups(t, replicaDSN)
	// The setup's events are delivered by the job queue (a background read of each event and
	// the webhook subscriptions): let it finish first, so the window holds only downloads.
	waitFor(t, 30*time.Second, "the job queue idle", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, primaryDSN)
		if err != nil {
			return false
		}
		defer conn.Close(ctx)
		var n int
		err = conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n)
		return err == nil && n == 0
	})
	stmtBefore := statementCalls(t, primaryDSN)
	for i := range 10 {
		node := nodes[i%2]
		if r := get(node, "/v1/files/"+kept.ID+"/content", alice.Token); r.Status != 200 || string(r.Body) != "kept bytes" {
			t.Fatalf("download on %s: %d", node, r.Status)
		}
		if r := get(node, "/v1/files/"+shared.ID+"/content", bob.Token); r.Status != 200 {
			t.Fatalf("shared download on %s: %d", node, r.Status)
		}
	}
	// Not one statement on the primary, but for background work (the audit log's batches of
	// these downloads' records, heartbeats, the job queue).
	if n, which := requestStatements(stmtBefore, statementCalls(t, primaryDSN)); n != 0 {
		t.Errorf("statements on the primary during 20 downloads of unchanged files: %d, want 0:\n%s", n, strings.Join(which, "\n"))
	}
	if got := fileLookups(t, primaryDSN) - primaryBefore; got != 0 {
		t.Errorf("lookups on the primary during 20 downloads: %d, want 0", got)
	}
	if got := fileLookups(t, replicaDSN) - replicaBefore; got < 20 {
		t.Errorf("lookups on the replica during 20 downloads: %d, want >= 20", got)
	} else {
		t.Logf("replica lookups %d", got)
	}

	// The replica stops applying WAL: everything below is invisible there.
	sqlExec(t, replicaDSN, "SELECT pg_wal_replay_pause()")
	if r := c.do("DELETE", nodes[1]+"/v1/files/"+shared.ID+"/shares/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke share: %d", r.Status)
	}
	if r := c.do("DELETE", nodes[0]+"/v1/files/"+doomed.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := c.do("DELETE", nodes[1]+"/v1/files/"+linked.ID+"/links/"+link.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke link: %d", r.Status)
	}
	for _, node := range nodes {
		if r := get(node, "/v1/files/"+shared.ID+"/content", bob.Token); r.Status != http.StatusNotFound {
			t.Errorf("revoked share on %s: %d, want 404", node, r.Status)
		}
		if r := get(node, "/v1/files/"+doomed.ID+"/content", alice.Token); r.Status != http.StatusNotFound {
			t.Errorf("deleted file on %s: %d, want 404", node, r.Status)
		}
		if r := get(node, "/v1/files/"+doomed.ID, alice.Token); r.Status != http.StatusNotFound {
			t.Errorf("deleted file's metadata on %s: %d, want 404", node, r.Status)
		}
		if r := get(node, link.URL, ""); r.Status != http.StatusNotFound {
			t.Errorf("revoked link on %s: %d, want 404", node, r.Status)
		}
		if r := c.do("HEAD", node+link.URL, nil, nil); r.Status != http.StatusNotFound {
			t.Errorf("HEAD of a revoked link on %s: %d, want 404", node, r.Status)
		}
	}
	// Read-your-writes across nodes: uploaded through one, at once through the other.
	fresh := c.upload(alice.Token, "fresh", []byte("fresh bytes"))
	for _, node := range nodes {
		if r := get(node, "/v1/files/"+fresh.ID+"/content", alice.Token); r.Status != 200 || !bytes.Equal(r.Body, []byte("fresh bytes")) {
			t.Errorf("fresh upload on %s: %d", node, r.Status)
		}
	}
	rc.assertPaused(t)

	sqlExec(t, replicaDSN, "SELECT pg_wal_replay_resume()")
	for _, node := range nodes {
		waitFor(t, 30*time.Second, "reads back on the replica", func() bool {
			p, before := fileLookups(t, primaryDSN), fileLookups(t, replicaDSN)
			r := get(node, "/v1/files/"+kept.ID+"/content", alice.Token)
			return r.Status == 200 && fileLookups(t, replicaDSN) > before && fileLookups(t, primaryDSN) == p
		})
		if r := get(node, "/v1/files/"+fresh.ID+"/content", alice.Token); r.Status != 200 {
			t.Errorf("fresh upload on %s after resume: %d", node, r.Status)
		}
		if r := get(node, "/v1/files/"+shared.ID+"/content", bob.Token); r.Status != http.StatusNotFound {
			t.Errorf("revoked share on %s after resume: %d, want 404", node, r.Status)
		}
	}

	// Listings, with replay paused again and no revocation pending: a file uploaded through
	// one node is in its owner's listing through the other at once, and a file shared
	// through one is in the grantee's shared listing through the other, while the
	// downloads of other files stay on the replica (a new file fences its owner's listings,
	// not every read).
	rc.waitReplayed(t)
	sqlExec(t, replicaDSN, "SELECT pg_wal_replay_pause()")
	newer := c.upload(alice.Token, "newer", []byte("newer bytes"))
	if r := c.do("POST", nodes[0]+"/v1/files/"+kept.ID+"/shares", strings.NewReader(share), with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated {
		t.Fatalf("share kept: %d %s", r.Status, r.Body)
	}
	listed := func(node, query, tok, id string) bool {
		r := get(node, "/v1/files"+query, tok)
		if r.Status != 200 {
			t.Fatalf("list %s on %s: %d %s", query, node, r.Status, r.Body)
		}
		var page struct{ Files []struct{ ID string } }
		r.JSON(t, &page)
		for _, f := range page.Files {
			if f.ID == id {
				return true
			}
		}
		return false
	}
	primaryBefore, replicaBefore = fileLookups(t, primaryDSN), fileLookups(t, replicaDSN)
	for _, node := range nodes {
		if !listed(node, "?limit=100", alice.Token, newer.ID) {
			t.Errorf("new upload missing from alice's listing on %s", node)
		}
		if !listed(node, "?shared=true&limit=100", bob.Token, kept.ID) {
			t.Errorf("new share missing from bob's shared listing on %s", node)
		}
		if r := get(node, "/v1/files/"+linked.ID+"/content", alice.Token); r.Status != 200 {
			t.Errorf("download on %s: %d", node, r.Status)
		}
	}
	if p, r := fileLookups(t, primaryDSN)-primaryBefore, fileLookups(t, replicaDSN)-replicaBefore; p != 0 || r != 2 {
		t.Errorf("downloads of an older file after an upload: %d lookups on the primary, %d on the replica; want 0 and 2", p, r)
	}
	rc.assertPaused(t)
	sqlExec(t, replicaDSN, "SELECT pg_wal_replay_resume()")
}

// assertPaused fails the test unless the replica's replay is (still) paused.
func (rc *replicaCluster) assertPaused(t testing.TB) {
	t.Helper()
	var paused bool
	ctx := context.Background()
	if conn, err := pgx.Connect(ctx, rc.replica.DSN("files")); err == nil {
		conn.QueryRow(ctx, "SELECT pg_is_wal_replay_paused()").Scan(&paused)
		conn.Close(ctx)
	}
	if !paused {
		t.Fatal("the replica's replay was not paused throughout")
	}
}
