package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiveLink is a link as the API shows it (issue 20's fields included).
type receiveLink struct {
	ID          string `json:"id"`
	FileID      string `json:"file_id"`
	FileName    string `json:"file_name"`
	URL         string `json:"url"`
	ShortURL    string `json:"short_url"`
	PageURL     string `json:"page_url"`
	BudgetBytes *int64 `json:"budget_bytes"`
	ServedBytes int64  `json:"served_bytes"`
	Password    bool   `json:"password"`
}

func (c *client) makeLink(tok, fileID string, body map[string]any) receiveLink {
	c.t.Helper()
	b, _ := json.Marshal(body)
	r := c.do("POST", c.files+"/v1/files/"+fileID+"/links", bytes.NewReader(b), with(tok, map[string]string{"Content-Type": "application/json"}))
	var l receiveLink
	if r.Status != http.StatusCreated {
		c.t.Fatalf("create link %v: %d %s", body, r.Status, r.Body)
	}
	r.JSON(c.t, &l)
	return l
}

// TestReceiveLinks runs the link side of issue 20 on two file nodes sharing PostgreSQL and
// storage: the exact byte budget, link passwords, short links, the lists, and retention.
func TestReceiveLinks(t *testing.T) {
	dir := t.TempDir()
	s := startStack(t, stackOptions{FileNodes: 2, FilesEnv: map[string]string{
		"COFFER_FILES_DATA_DIR": dir, "COFFER_FILES_LINK_KEY": newLinkKey(),
		"COFFER_FILES_WEB_URL": "https://web.example", "COFFER_FILES_GC_INTERVAL": "1s",
	}})
	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	nodes := []string{s.Files[0].URL, s.Files[1].URL}
	data := make([]byte, 1000)
	rand.Read(data)
	f := c.upload(alice.Token, "budget.bin", data)

	// fetch sends one request to a node and returns the status and the bytes received.
	fetch := func(method, url string, h map[string]string) (int, []byte) {
		r := c.do(method, url, nil, h)
		return r.Status, r.Body
	}

	t.Run("budget", func(t *testing.T) {
		// A 1-download link of 1,000 bytes serves at most 2,000 bytes in all: bytes=1- loops,
		// HEADs and parallel ranges on both nodes included.
		l := c.makeLink(alice.Token, f.ID, map[string]any{"expires_in": 600, "max_downloads": 1})
		if l.BudgetBytes == nil || *l.BudgetBytes != 2000 {
			t.Fatalf("budget_bytes %v, want 2000", l.BudgetBytes)
		}
		total := 0
		for i := range 6 {
			// A HEAD serves no bytes (and says 404 once no download fits any more).
			if st, body := fetch("HEAD", nodes[i%2]+l.URL, nil); len(body) != 0 || (st != 200 && st != 404) {
				t.Fatalf("HEAD %d: %d, %d bytes", i, st, len(body))
			}
			st, body := fetch("GET", nodes[i%2]+l.URL, map[string]string{"Range": "bytes=1-"})
			if st == http.StatusPartialContent && !bytes.Equal(body, data[1:]) {
				t.Fatalf("bytes=1- on node %d: wrong bytes", i%2)
			}
			total += len(body) * map[bool]int{true: 1}[st/100 == 2]
		}
		if total != 1998 {
			t.Fatalf("bytes=1- six times, three HEADs per node: %d bytes served, want 1998 (2 × 999 of a 2,000-byte budget)", total)
		}
		if st, _ := fetch("GET", nodes[1]+l.URL, nil); st != http.StatusNotFound {
			t.Fatalf("a full download after the loop: %d", st)
		}

		// Parallel ranges on both nodes: the sum stays within the budget, and is what was counted.
		l2 := c.makeLink(alice.Token, f.ID, map[string]any{"expires_in": 600, "max_downloads": 1})
		var mu sync.Mutex
		var wg sync.WaitGroup
		sum := 0
		for i := range 24 {
			wg.Go(func() {
				h := map[string]string{"Range": fmt.Sprintf("bytes=%d-", (i%5)*100)}
				method := "GET"
				if i%6 == 0 {
					method = "HEAD"
				}
				req, _ := http.NewRequest(method, nodes[i%2]+l2.URL, nil)
				for k, v := range h {
					req.Header.Set(k, v)
				}
				resp, err := c.http.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					sum += len(b)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		served := s.queryInt(`SELECT served_bytes FROM file_links WHERE id = $1`, l2.ID)
		if sum > 2000 || int64(sum) != served || sum < 1000 {
			t.Fatalf("24 parallel ranges and HEADs on two nodes: %d bytes received, %d counted, budget 2000", sum, served)
		}

		// An ordinary resume of a cut download stays within the budget.
		l3 := c.makeLink(alice.Token, f.ID, map[string]any{"expires_in": 600, "max_downloads": 1})
		resp, err := c.http.Get(nodes[0] + l3.URL)
		if err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 400)
		if _, err := io.ReadFull(resp.Body, part); err != nil {
			t.Fatal(err)
		}
		etag := resp.Header.Get("ETag")
		resp.Body.Close() // cut
		st, rest := fetch("GET", nodes[1]+l3.URL, map[string]string{"Range": "bytes=400-", "If-Range": etag})
		if st != http.StatusPartialContent || !bytes.Equal(append(part, rest...), data) {
			t.Fatalf("resume of a cut download on the other node: %d, %d bytes", st, len(rest))
		}
	})

	t.Run("password", func(t *testing.T) {
		l := c.makeLink(alice.Token, f.ID, map[string]any{"expires_in": 600, "password": "open sesame"})
		if !l.Password || !strings.HasPrefix(l.PageURL, "https://web.example/s/") {
			t.Fatalf("link %+v: want password true and a page URL", l)
		}
		short := l.ShortURL[strings.LastIndex(l.ShortURL, "/")+1:]
		pw := func(p string) map[string]string { return map[string]string{"Coffer-Link-Password": p} }
		unknown := nodes[0] + "/v1/s/7Zx9QpL2mKt4RvW8yBc3Nd"
		// Missing or wrong password: the answer of an unknown link, on either node, for the
		// download and for the page's info alike; and nothing of the file in it.
		var bodies []string
		for _, url := range []string{nodes[0] + l.ShortURL, nodes[1] + l.ShortURL + "/info", nodes[1] + l.URL, unknown} {
			for _, h := range []map[string]string{nil, pw("wrong")} {
				r := c.do("GET", url, nil, h)
				expectProblem(t, "wrong password", r, http.StatusNotFound, "not_found")
				if strings.Contains(string(r.Body), "budget.bin") || strings.Contains(string(r.Body), short) {
					t.Fatalf("a refused link's answer reveals the file or id: %s", r.Body)
				}
				var p map[string]any
				r.JSON(t, &p)
				delete(p, "instance")
				b, _ := json.Marshal(p)
				bodies = append(bodies, string(b))
			}
		}
		for _, b := range bodies {
			if b != bodies[0] {
				t.Fatalf("refusals differ: %s vs %s", b, bodies[0])
			}
		}
		if st, body := fetch("GET", nodes[1]+l.ShortURL, pw("open sesame")); st != 200 || !bytes.Equal(body, data) {
			t.Fatalf("right password: %d", st)
		}
		r := c.do("GET", nodes[0]+l.ShortURL+"/info", nil, pw("open sesame"))
		var info struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
		}
		if r.Status == 200 {
			r.JSON(t, &info)
		}
		if info.Name != "budget.bin" || info.Size != 1000 {
			t.Fatalf("info: %d %s", r.Status, r.Body)
		}
		// Guessing is throttled per link on every node: 10 tries per window (one wrong try per
		// URL above counted: 3 so far), then 429 with Retry-After, for the right password too.
		for i := range 7 {
			if st, _ := fetch("GET", nodes[i%2]+l.ShortURL, pw(fmt.Sprint("guess", i))); st != http.StatusNotFound {
				t.Fatalf("guess %d: %d", i, st)
			}
		}
		r = c.do("GET", nodes[1]+l.ShortURL, nil, pw("open sesame"))
		expectProblem(t, "throttled link", r, http.StatusTooManyRequests, "too_many_attempts")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		// An unknown link is throttled alike.
		for range 9 {
			fetch("GET", unknown, pw("x"))
		}
		expectProblem(t, "throttled unknown link", c.do("GET", unknown, nil, pw("x")), http.StatusTooManyRequests, "too_many_attempts")
		if logs := s.Files[0].Logs() + s.Files[1].Logs(); strings.Contains(logs, "open sesame") || strings.Contains(logs, short) {
			t.Fatal("a node's log holds a link password or short id")
		}
	})

	t.Run("lists", func(t *testing.T) {
		g := c.upload(alice.Token, "listed.txt", []byte("listed"))
		l := c.makeLink(alice.Token, g.ID, map[string]any{"expires_in": 600})
		id := l.ShortURL[strings.LastIndex(l.ShortURL, "/")+1:]
		if len(id) < 20 || l.PageURL != "https://web.example/s/"+id || len(l.ShortURL) > 40 {
			t.Fatalf("short link %q, page %q", l.ShortURL, l.PageURL)
		}
		if st, body := fetch("GET", nodes[1]+l.ShortURL, nil); st != 200 || string(body) != "listed" {
			t.Fatalf("short link on node 1: %d", st)
		}
		share := `{"user_id":"` + bob.ID + `"}`
		if r := c.do("POST", nodes[0]+"/v1/files/"+g.ID+"/shares", strings.NewReader(share), with(alice.Token, map[string]string{"Content-Type": "application/json"})); r.Status != http.StatusCreated {
			t.Fatalf("share: %d", r.Status)
		}
		var links struct {
			Links []receiveLink `json:"links"`
		}
		r := c.do("GET", nodes[1]+"/v1/links?limit=2", nil, bearer(alice.Token))
		if r.JSON(t, &links); len(links.Links) != 2 || links.Links[0].ID != l.ID || links.Links[0].FileName != "listed.txt" || links.Links[0].URL != "" {
			t.Fatalf("GET /v1/links: %d %s", r.Status, r.Body)
		}
		r = c.do("GET", nodes[0]+"/v1/files/"+g.ID+"/links", nil, bearer(alice.Token))
		if r.JSON(t, &links); len(links.Links) != 1 || links.Links[0].ShortURL != l.ShortURL {
			t.Fatalf("GET /v1/files/{id}/links: %d %s", r.Status, r.Body)
		}
		var shares struct {
			Shares []struct {
				UserID string `json:"user_id"`
			} `json:"shares"`
		}
		r = c.do("GET", nodes[1]+"/v1/files/"+g.ID+"/shares", nil, bearer(alice.Token))
		if r.JSON(t, &shares); len(shares.Shares) != 1 || shares.Shares[0].UserID != bob.ID {
			t.Fatalf("GET /v1/files/{id}/shares: %d %s", r.Status, r.Body)
		}
		// Bob, who can read the file, still cannot see its links or shares; his own list is empty.
		for _, p := range []string{"/v1/files/" + g.ID + "/links", "/v1/files/" + g.ID + "/shares"} {
			expectProblem(t, "bob lists "+p, c.do("GET", nodes[0]+p, nil, bearer(bob.Token)), http.StatusNotFound, "not_found")
		}
		if r := c.do("GET", nodes[0]+"/v1/links", nil, bearer(bob.Token)); r.Status != 200 || !strings.Contains(string(r.Body), `"links":[]`) {
			t.Fatalf("bob's links: %d %s", r.Status, r.Body)
		}
		var shared struct {
			Files []struct {
				ID       string `json:"id"`
				SharedBy string `json:"shared_by"`
			} `json:"files"`
		}
		r = c.do("GET", nodes[1]+"/v1/files?shared=true", nil, bearer(bob.Token))
		if r.JSON(t, &shared); len(shared.Files) != 1 || shared.Files[0].SharedBy != alice.ID {
			t.Fatalf("shared with bob: %s", r.Body)
		}
		// Revoking from the list stops the short link on both nodes at once.
		if r := c.do("DELETE", nodes[1]+"/v1/files/"+g.ID+"/links/"+l.ID, nil, bearer(alice.Token)); r.Status != http.StatusNoContent {
			t.Fatalf("revoke: %d", r.Status)
		}
		for _, n := range nodes {
			if st, _ := fetch("GET", n+l.ShortURL, nil); st != http.StatusNotFound {
				t.Fatalf("revoked short link on %s: %d", n, st)
			}
		}
	})

	t.Run("retention", func(t *testing.T) {
		// A file with links and shares expires: it is gone on both nodes with its bytes, its
		// quota, its links and its shares (README "Retention").
		e := c.upload(alice.Token, "expiring.txt", []byte("gone soon"))
		l := c.makeLink(alice.Token, e.ID, map[string]any{"expires_in": 3600})
		share := `{"user_id":"` + bob.ID + `"}`
		c.do("POST", nodes[0]+"/v1/files/"+e.ID+"/shares", strings.NewReader(share), with(alice.Token, map[string]string{"Content-Type": "application/json"}))
		usage := func() int64 {
			return s.queryInt(`SELECT coalesce(sum(used_bytes), 0) FROM file_usage WHERE owner_id = $1`, alice.ID)
		}
		before := usage()
		exp := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)
		r := c.do("PATCH", nodes[1]+"/v1/files/"+e.ID, strings.NewReader(`{"expires_at":"`+exp+`"}`), with(alice.Token, map[string]string{"Content-Type": "application/json"}))
		if r.Status != 200 || !strings.Contains(string(r.Body), `"expires_at"`) {
			t.Fatalf("set expiry: %d %s", r.Status, r.Body)
		}
		expectProblem(t, "bob sets alice's expiry", c.do("PATCH", nodes[1]+"/v1/files/"+e.ID, strings.NewReader(`{"expires_at":null}`),
			with(bob.Token, map[string]string{"Content-Type": "application/json"})), http.StatusNotFound, "not_found")
		// Uploaded with an expiry of its own.
		r = c.do("POST", nodes[0]+"/v1/files?name=brief.txt&expires_in=1", strings.NewReader("brief"), bearer(alice.Token))
		if r.Status != http.StatusCreated {
			t.Fatalf("upload with expires_in: %d %s", r.Status, r.Body)
		}
		var brief fileJSON
		r.JSON(t, &brief)
		deadline := time.Now().Add(30 * time.Second)
		for s.queryInt(`SELECT count(*) FROM files WHERE id IN ($1, $2)`, e.ID, brief.ID) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("expired files still there after 30s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, n := range nodes {
			for _, p := range []string{"/v1/files/" + e.ID, "/v1/files/" + brief.ID + "/content"} {
				if st, _ := fetch("GET", n+p, bearer(alice.Token)); st != http.StatusNotFound {
					t.Fatalf("expired file %s on %s: %d", p, n, st)
				}
			}
			if st, _ := fetch("GET", n+l.ShortURL, nil); st != http.StatusNotFound {
				t.Fatalf("link of an expired file on %s: %d", n, st)
			}
		}
		if got := usage(); got != before-int64(len("gone soon")) {
			t.Fatalf("alice's usage %d after expiry, want %d", got, before-int64(len("gone soon")))
		}
		if n := s.queryInt(`SELECT count(*) FROM file_shares WHERE file_id = $1`, e.ID); n != 0 {
			t.Fatalf("%d shares outlive the expired file", n)
		}
		for _, id := range []string{e.ID, brief.ID} {
			if _, err := os.Stat(filepath.Join(dir, id[:2], id[2:4], id)); !os.IsNotExist(err) {
				t.Fatalf("the expired file %s's blob is still on disk (%v)", id, err)
			}
		}
		// Each expiry emitted its file.expired event, exactly once, whichever node took it.
		for _, id := range []string{e.ID, brief.ID} {
			if n := s.queryInt(`SELECT count(*) FROM file_events WHERE type = 'file.expired' AND file_id = $1`, id); n != 1 {
				t.Fatalf("%d file.expired events for %s, want 1", n, id)
			}
		}
		if !strings.Contains(s.Files[0].Logs()+s.Files[1].Logs(), `"expired_files":1`) && !strings.Contains(s.Files[0].Logs()+s.Files[1].Logs(), `"expired_files":2`) {
			t.Fatal("no node logged the expiry")
		}
	})
}
