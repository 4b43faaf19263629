package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
	"github.com/cofferhq/coffer/pkg/pgcluster"
	"github.com/cofferhq/coffer/pkg/s3test"
)

// BenchmarkScale is `make bench-scale`: a primary with two streaming replicas, PgBouncer in
// transaction mode, four file nodes on S3 (versitygw), and the figures of docs/SCALING.md from
// one run. It runs only with COFFER_BENCH_SCALE=1 (it takes a few minutes).
func BenchmarkScale(b *testing.B) {
	if os.Getenv("COFFER_BENCH_SCALE") == "" {
		b.Skip("set COFFER_BENCH_SCALE=1 (make bench-scale)")
	}
	for range b.N {
		benchScale(b)
	}
}

func benchScale(b *testing.B) {
	rc := startReplicaCluster(b, 2)
	ctx := context.Background()
	bouncer, err := pgcluster.StartBouncer(ctx, rc.primary, pgcluster.BouncerOptions{PoolSize: 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bouncer.Close() })
	s3 := s3test.Start(b)

	var k [32]byte
	rand.Read(k[:])
	s := &stack{t: b, kek: base64.StdEncoding.EncodeToString(k[:]), authDB: rc.primary.DSN("auth"), fileDB: rc.primary.DSN("files")}
	s.Auth = s.StartAuth(map[string]string{"COFFER_AUTH_DATABASE_URL": bouncer.DSN("auth")})
	var replicaURLs []string
	for _, r := range rc.replicas {
		replicaURLs = append(replicaURLs, r.DSN("files"))
	}
	env := map[string]string{
		"COFFER_FILES_DATABASE_URL":        bouncer.DSN("files") + "&pool_max_conns=20",
		"COFFER_FILES_DATABASE_DIRECT_URL": rc.primary.DSN("files"),
		"COFFER_FILES_STORAGE":             "s3", "COFFER_FILES_S3_ENDPOINT": s3.Endpoint, "COFFER_FILES_S3_BUCKET": s3.Bucket,
		"COFFER_FILES_S3_ACCESS_KEY": s3.AccessKey, "COFFER_FILES_S3_SECRET_KEY": s3.SecretKey,
		"COFFER_FILES_GC_INTERVAL": "0", "COFFER_FILES_LOG_LEVEL": "warn",
	}
	startNodes := func(replicas bool, extra ...string) []*harness.Process {
		e := maps.Clone(env)
		for i := 0; i+1 < len(extra); i += 2 {
			e[extra[i]] = extra[i+1]
		}
		if replicas {
			e["COFFER_FILES_DATABASE_REPLICA_URLS"] = strings.Join(replicaURLs, ",")
		}
		var nodes []*harness.Process
		for range 4 {
			nodes = append(nodes, s.StartFiles(e))
		}
		return nodes
	}
	primaryOnly := startNodes(false)
	withReplicas := startNodes(true)
	advisory := startNodes(true, "COFFER_FILES_UPLOAD_LOCK", "advisory")
	s.Files = primaryOnly
	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	small := c.upload(alice.Token, "small", bytes.Repeat([]byte("x"), 4096))
	rc.waitReplayed(b)
	for _, n := range withReplicas { // each node on a replica before measuring
		waitFor(b, 30*time.Second, "reads on a replica", func() bool {
			before := fileLookups(b, rc.replicas[0].DSN("files")) + fileLookups(b, rc.replicas[1].DSN("files"))
			r := c.do("GET", n.URL+"/v1/files/"+small.ID+"/content", nil, bearer(alice.Token))
			return r.Status == 200 && fileLookups(b, rc.replicas[0].DSN("files"))+fileLookups(b, rc.replicas[1].DSN("files")) > before
		})
	}

	type row struct{ figure, value string }
	var rows []row
	add := func(figure, format string, args ...any) {
		rows = append(rows, row{figure, fmt.Sprintf(format, args...)})
		b.Logf("%s: %s", figure, fmt.Sprintf(format, args...))
	}
	servers := map[string]string{"primary": rc.primary.DSN("files"), "replica 1": rc.replicas[0].DSN("files"), "replica 2": rc.replicas[1].DSN("files")}
	path := "/v1/files/" + small.ID + "/content"

	// Statements per download on each server.
	for _, set := range []struct {
		name  string
		nodes []*harness.Process
	}{{"no replicas", primaryOnly}, {"2 replicas", withReplicas}} {
		before := map[string]map[string]int64{}
		for name, dsn := range servers {
			before[name] = statementCalls(b, dsn)
		}
		const n = 400
		start := time.Now()
		load(set.nodes, path, alice.Token, 8, 0, n)
		took := time.Since(start)
		var parts []string
		for _, name := range []string{"primary", "replica 1", "replica 2"} {
			after := statementCalls(b, servers[name])
			req, which := requestStatements(before[name], after)
			var all int64
			for q, c := range after {
				if !strings.Contains(q, "pg_stat_statements") {
					all += c - before[name][q]
				}
			}
			parts = append(parts, fmt.Sprintf("%s %.2f (+%.2f background)", name, float64(req)/n, float64(all-req)/n))
			if name == "primary" && set.name == "2 replicas" && req > 0 {
				b.Logf("request statements on the primary: %s", strings.Join(which, "; "))
			}
		}
		add("statements per 4 KiB download, "+set.name, "%s; %d downloads in %v by 8 clients", strings.Join(parts, ", "), n, took.Round(time.Millisecond))
	}

	// 4 KiB GET throughput through four nodes.
	for _, set := range []struct {
		name  string
		nodes []*harness.Process
	}{{"no replicas", primaryOnly}, {"2 replicas", withReplicas}} {
		got := load(set.nodes, path, alice.Token, 64, 5*time.Second, 0)
		add("4 KiB GET through 4 nodes, "+set.name, "%.0f req/s (%d errors)", got.rate, got.errors)
	}

	// The fence's cost to uploads: a new file publishes a grant notice and waits for every
	// node's acknowledgement, for read-your-writes in listings across nodes.
	for _, set := range []struct {
		name  string
		nodes []*harness.Process
	}{{"no replicas (no fence)", primaryOnly}, {"2 replicas (grant notice, 4 nodes acknowledge)", withReplicas}} {
		var took []time.Duration
		for i := range 40 {
			start := time.Now()
			c.files = set.nodes[i%len(set.nodes)].URL
			c.upload(alice.Token, fmt.Sprintf("fenced-%d", i), bytes.Repeat([]byte("u"), 4096))
			took = append(took, time.Since(start))
		}
		c.files = primaryOnly[0].URL
		slices.Sort(took)
		add("4 KiB upload latency, "+set.name, "median %v, p90 %v", took[len(took)/2].Round(10*time.Microsecond), took[len(took)*9/10].Round(10*time.Microsecond))
	}

	// The fence's cost: a revocation's latency (share, then revoke, 40 times) with and
	// without replicas (where it waits for every node's acknowledgement).
	for _, set := range []struct {
		name  string
		nodes []*harness.Process
	}{{"no replicas (no fence)", primaryOnly}, {"2 replicas (fence, 4 nodes acknowledge)", withReplicas}} {
		var took []time.Duration
		share := `{"user_id":"` + bob.ID + `"}`
		for i := range 40 {
			node := set.nodes[i%len(set.nodes)].URL
			if r := c.do("POST", node+"/v1/files/"+small.ID+"/shares", strings.NewReader(share), with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated {
				b.Fatalf("share: %d", r.Status)
			}
			start := time.Now()
			if r := c.do("DELETE", node+"/v1/files/"+small.ID+"/shares/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
				b.Fatalf("revoke: %d", r.Status)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		add("share revocation latency, "+set.name, "median %v, p90 %v", took[len(took)/2].Round(10*time.Microsecond), took[len(took)*9/10].Round(10*time.Microsecond))
	}

	// 256 parallel resumable uploads (16 KiB each) spread over the four nodes.
	for _, set := range []struct {
		name  string
		nodes []*harness.Process
	}{{"lease lock", withReplicas}, {"advisory lock", advisory}} {
		res := tusLoad(set.nodes, alice.Token, 256, 16<<10)
		add("256 parallel tus uploads of 16 KiB through 4 nodes, "+set.name, "%.0f uploads/s, %d errors, %v", res.rate, res.errors, res.took.Round(time.Millisecond))
	}

	load1, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\n## make bench-scale (load average %s)\n\n| figure | value |\n|---|---|\n", strings.Join(strings.Fields(string(load1))[:3], " "))
	for _, r := range rows {
		fmt.Printf("| %s | %s |\n", r.figure, r.value)
	}
	fmt.Println()
}

type loadResult struct {
	rate   float64
	errors int64
	took   time.Duration
}

// load GETs path round-robin over nodes with workers in parallel, for d or for n requests.
func load(nodes []*harness.Process, path, tok string, workers int, d time.Duration, n int64) loadResult {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	var done, errs, next atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				if d > 0 && time.Now().After(deadline) || n > 0 && next.Add(1) > n {
					return
				}
				req, _ := http.NewRequest("GET", nodes[i%len(nodes)].URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	return loadResult{rate: float64(done.Load()) / took.Seconds(), errors: errs.Load(), took: took}
}

// tusLoad runs n resumable uploads of size bytes at once (creation, then one PATCH each),
// round-robin over nodes.
func tusLoad(nodes []*harness.Process, tok string, n int, size int) loadResult {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 2 * time.Minute}
	body := bytes.Repeat([]byte("t"), size)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tusUpload(client, nodes[i%len(nodes)].URL, tok, body); err != nil {
				errs.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	return loadResult{rate: float64(int64(n)-errs.Load()) / took.Seconds(), errors: errs.Load(), took: took}
}

func tusUpload(client *http.Client, node, tok string, body []byte) error {
	req, _ := http.NewRequest("POST", node+"/v1/uploads/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(body)))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte("t.bin")))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		return fmt.Errorf("create: %d", resp.StatusCode)
	}
	if strings.HasPrefix(loc, "/") {
		loc = node + loc
	}
	req, _ = http.NewRequest("PATCH", loc, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("patch: %d", resp.StatusCode)
	}
	return nil
}
