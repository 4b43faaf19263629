package e2e_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/pgtest"
)

// TestAccessCacheRevocation: two file nodes with the access cache on. Once a share revoke, a
// file delete, a link revoke or a rename has returned (through either node), neither node
// serves what was revoked or the old name, though both had it cached. A node whose notice
// connection stalls unseen, or is cut, stops answering from its cache (the revocation made
// meanwhile through the other node is refused by it at once) and uses it again once the
// connection is back, without the revoked grant.
func TestAccessCacheRevocation(t *testing.T) {
	var k [32]byte
	rand.Read(k[:])
	s := &stack{t: t, kek: base64.StdEncoding.EncodeToString(k[:]), authDB: pgtest.NewDatabase(t), fileDB: pgtest.NewDatabase(t)}
	s.Auth = s.StartAuth(nil)
	// Node 0's direct connection (the fence's LISTEN) goes through a proxy the test stalls
	// and cuts; its pooled connection does not.
	px := newPGProxy(t, s.fileDB)
	dir, key := t.TempDir(), newLinkKey()
	metrics := []string{freeAddr(t), freeAddr(t)}
	env := func(i int) map[string]string {
		e := map[string]string{
			"COFFER_FILES_DATA_DIR":     dir,
			"COFFER_FILES_LINK_KEY":     key,
			"COFFER_FILES_ACCESS_CACHE": "true",
			"COFFER_FILES_FENCE_LEASE":  "1s",
			"COFFER_FILES_METRICS_ADDR": metrics[i],
		}
		if i == 0 {
			e["COFFER_FILES_DATABASE_DIRECT_URL"] = px.dsn
		}
		return e
	}
	s.Files = append(s.Files, s.StartFiles(env(0)), s.StartFiles(env(1)))
	nodes := []string{s.Files[0].URL, s.Files[1].URL}
	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	up := func(name string) fileJSON { return c.upload(alice.Token, name, []byte(name+" bytes")) }
	shared, doomed, linked, renamed, stalled, cut := up("shared"), up("doomed"), up("linked"), up("renamed"), up("stalled"), up("cut")
	for _, f := range []fileJSON{shared, stalled, cut} {
		if r := c.do("POST", nodes[0]+"/v1/files/"+f.ID+"/shares", strings.NewReader(`{"user_id":"`+bob.ID+`"}`),
			with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated {
			t.Fatalf("share: %d %s", r.Status, r.Body)
		}
	}
	link, r := c.createLink(alice.Token, linked.ID, map[string]int{"expires_in": 600})
	if r.Status != http.StatusCreated {
		t.Fatalf("create link: %d %s", r.Status, r.Body)
	}

	get := func(node int, path, tok string) response {
		var h map[string]string
		if tok != "" {
			h = bearer(tok)
		}
		return c.do("GET", nodes[node]+path, nil, h)
	}
	counter := func(node int, name string) float64 { return metricValue(t, metrics[node], name) }
	// warm waits until node answers path for tok from its cache: a GET that counts a hit.
	warm := func(node int, path, tok string) {
		t.Helper()
		waitFor(t, 30*time.Second, "node "+strconv.Itoa(node)+" answering "+path+" from its cache", func() bool {
			before := counter(node, "coffer_files_access_cache_hits_total")
			r := get(node, path, tok)
			if r.Status != http.StatusOK {
				t.Fatalf("%s on node %d: %d %s", path, node, r.Status, r.Body)
			}
			return counter(node, "coffer_files_access_cache_hits_total") > before
		})
	}
	content := func(f fileJSON) string { return "/v1/files/" + f.ID + "/content" }
	refused := func(what string, node int, path, tok string) {
		t.Helper()
		if r := get(node, path, tok); r.Status != http.StatusNotFound {
			t.Errorf("%s on node %d: %d, want 404", what, node, r.Status)
		}
	}

	for node := range nodes {
		warm(node, content(shared), bob.Token)
		warm(node, content(doomed), alice.Token)
		warm(node, "/v1/files/"+doomed.ID, alice.Token)
		warm(node, "/v1/files/"+renamed.ID, alice.Token)
		if r := get(node, link.URL, ""); r.Status != http.StatusOK {
			t.Fatalf("link on node %d: %d", node, r.Status)
		}
	}
	if r := c.do("DELETE", nodes[1]+"/v1/files/"+shared.ID+"/shares/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke share: %d", r.Status)
	}
	if r := c.do("DELETE", nodes[0]+"/v1/files/"+doomed.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := c.do("DELETE", nodes[1]+"/v1/files/"+linked.ID+"/links/"+link.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke link: %d", r.Status)
	}
	if r := c.do("PATCH", nodes[0]+"/v1/files/"+renamed.ID, strings.NewReader(`{"name":"new name"}`),
		with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusOK {
		t.Fatalf("rename: %d %s", r.Status, r.Body)
	}
	for node := range nodes {
		refused("revoked share", node, content(shared), bob.Token)
		refused("deleted file", node, content(doomed), alice.Token)
		refused("deleted file's metadata", node, "/v1/files/"+doomed.ID, alice.Token)
		refused("revoked link", node, link.URL, "")
		var f fileJSON
		if r := get(node, "/v1/files/"+renamed.ID, alice.Token); r.Status != http.StatusOK {
			t.Errorf("renamed file on node %d: %d", node, r.Status)
		} else if r.JSON(t, &f); f.Name != "new name" {
			t.Errorf("renamed file on node %d is called %q, want %q", node, f.Name, "new name")
		}
	}

	// Node 0's notice connection stalls without failing: node 0 cannot know. The revocation
	// through node 1 returns within the lease, and node 0 refuses it at once all the same:
	// its lease ran out, so it no longer answers from its cache.
	warm(0, content(stalled), bob.Token)
	px.stall()
	if r := c.do("DELETE", nodes[1]+"/v1/files/"+stalled.ID+"/shares/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke share while node 0 stalls: %d", r.Status)
	}
	bypassed := counter(0, "coffer_files_access_cache_bypassed_total")
	refused("share revoked while node 0's notices stall", 0, content(stalled), bob.Token)
	if got := counter(0, "coffer_files_access_cache_bypassed_total"); got <= bypassed {
		t.Errorf("node 0 consulted its cache with its notice connection stalled (bypassed %v, then %v)", bypassed, got)
	}
	if r := get(0, content(renamed), alice.Token); r.Status != http.StatusOK {
		t.Errorf("node 0 without its cache: %d, want 200 from the database", r.Status)
	}
	px.resume()
	warm(0, content(renamed), alice.Token)
	refused("share revoked while node 0's notices stalled, after they resumed", 0, content(stalled), bob.Token)

	// Node 0's notice connection is cut and stays down: the notice of a revocation made now
	// never reaches node 0, which must have dropped its cache.
	warm(0, content(cut), bob.Token)
	px.cut(true)
	if r := c.do("DELETE", nodes[1]+"/v1/files/"+cut.ID+"/shares/"+bob.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke share while node 0 is cut off: %d", r.Status)
	}
	refused("share revoked while node 0 is cut off", 0, content(cut), bob.Token)
	px.cut(false)
	warm(0, content(renamed), alice.Token) // back: the cache answers again
	refused("share revoked while node 0 was cut off, after it reconnected", 0, content(cut), bob.Token)
}

// metricValue reads one unlabelled sample from a node's /metrics.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the metrics of %s", name, addr)
	return 0
}

// pgProxy forwards a Unix socket to a PostgreSQL server's, and can stall (hold every byte,
// keep the connections) or cut (close them, refuse new ones) what passes.
type pgProxy struct {
	dsn string

	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
	refused bool
	conns   map[net.Conn]bool
}

func newPGProxy(t *testing.T, dsn string) *pgProxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	socks, _ := filepath.Glob(filepath.Join(q.Get("host"), ".s.PGSQL.[0-9]*[0-9]"))
	if len(socks) != 1 {
		t.Fatalf("want one PostgreSQL socket in %s, found %v", q.Get("host"), socks)
	}
	target := socks[0]
	dir, err := os.MkdirTemp("", "pgpx") // short: a socket path has ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, filepath.Base(target)))
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	q.Set("host", dir)
	if port := strings.TrimPrefix(filepath.Ext(target), "."); port != "5432" {
		q.Set("port", port)
	}
	u.RawQuery = q.Encode()
	p.dsn = u.String()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.cut(true)
		p.resume()
		wg.Wait()
		os.RemoveAll(dir)
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("unix", target)
			p.mu.Lock()
			if err != nil || p.refused {
				p.mu.Unlock()
				in.Close()
				if out != nil {
					out.Close()
				}
				continue
			}
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			wg.Go(func() { p.pipe(out, in) })
			wg.Go(func() { p.pipe(in, out) })
		}
	})
	return p
}

// pipe copies from src to dst, holding each chunk while the proxy is stalled.
func (p *pgProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or closed: the other side follows through the deferred closes
		}
	}
}

func (p *pgProxy) stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

func (p *pgProxy) resume() {
	p.mu.Lock()
	p.stalled = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// cut closes every connection and refuses new ones (true), or accepts them again (false).
func (p *pgProxy) cut(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = v
	if v {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}
