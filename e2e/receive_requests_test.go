package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// receiveRequest is a file request as its owner sees it.
type receiveRequest struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	PageURL   string `json:"page_url"`
	FilesUsed int    `json:"files_used"`
	BytesUsed int64  `json:"bytes_used"`
	Open      bool   `json:"open"`
}

func (c *client) makeRequest(node, tok string, body map[string]any) receiveRequest {
	c.t.Helper()
	b, _ := json.Marshal(body)
	r := c.do("POST", node+"/v1/requests", bytes.NewReader(b), with(tok, map[string]string{"Content-Type": "application/json"}))
	if r.Status != http.StatusCreated {
		c.t.Fatalf("create request %v: %d %s", body, r.Status, r.Body)
	}
	var q receiveRequest
	r.JSON(c.t, &q)
	return q
}

func (q receiveRequest) short() string { return q.URL[strings.LastIndex(q.URL, "/")+1:] }

// anonTus sends one tus request as an uploader without an account: through the file request
// short (Coffer-Request), with its password when pw is set.
func (c *client) anonTus(method, url, short, pw string, body []byte, h map[string]string) response {
	c.t.Helper()
	hh := map[string]string{"Tus-Resumable": "1.0.0", "Coffer-Request": short}
	if pw != "" {
		hh["Coffer-Link-Password"] = pw
	}
	for k, v := range h {
		hh[k] = v
	}
	return c.do(method, url, bytes.NewReader(body), hh)
}

// anonCreate opens an upload of size bytes through a file request and returns its path.
func (c *client) anonCreate(node, short, pw string, size int, uploader string) (string, response) {
	c.t.Helper()
	meta := tusMeta("filename", "sent.bin")
	if uploader != "" {
		meta = tusMeta("filename", "sent.bin", "uploader", uploader)
	}
	r := c.anonTus("POST", node+"/v1/uploads/", short, pw, nil, map[string]string{"Upload-Length": strconv.Itoa(size), "Upload-Metadata": meta})
	loc := r.Header.Get("Location")
	if i := strings.Index(loc, "/v1/uploads/"); i >= 0 {
		loc = loc[i:]
	}
	return loc, r
}

// TestFileRequests: alice's file request with a password and limits takes an anonymous
// tus-js-client upload into her space, marked with the uploader's name; the uploader can
// neither read it back, list, nor touch anything else; the file count and byte limits hold,
// under parallel uploads too; a wrong password is refused like an unknown request and
// throttled; closing the request stops uploads at once on both nodes.
func TestFileRequests(t *testing.T) {
	s := startStack(t, stackOptions{FileNodes: 2, FilesEnv: map[string]string{"COFFER_FILES_WEB_URL": "https://web.example"}})
	c := s.client()
	alice := c.newUser("alice", "")
	nodes := []string{s.Files[0].URL, s.Files[1].URL}

	q := c.makeRequest(nodes[0], alice.Token, map[string]any{"title": "Tax papers", "message": "PDFs please", "expires_in": 3600,
		"max_files": 3, "max_bytes": 3000, "password": "letmein", "require_name": true})
	if !q.Open || q.PageURL != "https://web.example/r/"+q.short() || len(q.short()) < 20 {
		t.Fatalf("request %+v", q)
	}
	info := c.do("GET", nodes[1]+"/v1/r/"+q.short(), nil, map[string]string{"Coffer-Link-Password": "letmein"})
	if info.Status != 200 || !strings.Contains(string(info.Body), `"files_left":3`) || !strings.Contains(string(info.Body), "Tax papers") {
		t.Fatalf("request info: %d %s", info.Status, info.Body)
	}
	expectProblem(t, "request info without its password", c.do("GET", nodes[1]+"/v1/r/"+q.short(), nil, nil), http.StatusNotFound, "not_found")

	// An anonymous tus-js-client upload through the request, on node 0.
	data := make([]byte, 1000)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "sent.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res := tusJS(t, "--endpoint", nodes[0]+"/v1/uploads/", "--request", q.short(), "--password", "letmein",
		"--uploader", "Carol", "--file", path, "--name", "w2.pdf")
	if res.Status != "done" || res.FileID == "" {
		t.Fatalf("tus-js-client through the request: %+v", res)
	}
	// The same client without the uploader's name (required) or with a wrong password: refused.
	if r := tusJS(t, "--endpoint", nodes[1]+"/v1/uploads/", "--request", q.short(), "--password", "letmein", "--file", path, "--expect-error", "1"); r.HTTPStatus != 400 {
		t.Fatalf("upload without the required name: %+v", r)
	}
	if r := tusJS(t, "--endpoint", nodes[1]+"/v1/uploads/", "--request", q.short(), "--password", "wrong", "--uploader", "Eve", "--file", path, "--expect-error", "1"); r.HTTPStatus != 404 {
		t.Fatalf("upload with a wrong password: %+v", r)
	}

	// Alice sees the file, with the uploader's name, in the request's arrivals and her files.
	c.checkFile(t, alice.Token, res.FileID, data)
	// Its arrival is one request.received event, naming the request and sender, never the
	// request's short id or password.
	if n := s.queryInt(`SELECT count(*) FROM file_events WHERE type = 'request.received' AND file_id = $1`, res.FileID); n != 1 {
		t.Fatalf("%d request.received events for the file, want 1", n)
	}
	if n := s.queryInt(`SELECT count(*) FROM file_events WHERE type = 'request.received' AND file_id = $1 AND data->>'request_id' = $2
		AND data->>'uploader_name' = 'Carol' AND data->>'name' = 'w2.pdf' AND strpos(data::text, $3) = 0 AND strpos(data::text, 'letmein') = 0`,
		res.FileID, q.ID, q.short()); n != 1 {
		t.Fatal("the request.received event lacks the request or the sender, or carries the short id or password")
	}
	var arrivals listJSON
	r := c.do("GET", nodes[1]+"/v1/requests/"+q.ID+"/files", nil, bearer(alice.Token))
	r.JSON(t, &arrivals)
	if len(arrivals.Files) != 1 || arrivals.Files[0].ID != res.FileID || arrivals.Files[0].UploaderName != "Carol" || arrivals.Files[0].RequestID != q.ID || arrivals.Files[0].Name != "w2.pdf" {
		t.Fatalf("arrivals: %d %s", r.Status, r.Body)
	}

	// The uploader cannot read it back, list, or touch anything but their own upload.
	upURL := res.URL[strings.Index(res.URL, "/v1/uploads/"):]
	for _, p := range []string{"/v1/files/" + res.FileID, "/v1/files/" + res.FileID + "/content", "/v1/files", "/v1/requests", "/v1/requests/" + q.ID + "/files"} {
		r := c.anonTus("GET", nodes[0]+p, q.short(), "letmein", nil, nil)
		if r.Status != http.StatusUnauthorized || bytes.Contains(r.Body, data[:16]) {
			t.Fatalf("uploader GET %s: %d", p, r.Status)
		}
	}
	if r := c.anonTus("PATCH", nodes[1]+upURL, q.short(), "letmein", []byte("overwrite"), map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}); r.Status < 400 || r.Status >= 500 {
		t.Fatalf("uploader PATCH over the finished upload: %d %s", r.Status, r.Body)
	}
	aliceUp, cr := c.tus(alice.Token).create(nodes[0], 10, "own.txt", nil)
	if cr.Status != http.StatusCreated {
		t.Fatalf("alice's own upload: %d", cr.Status)
	}
	for _, m := range []string{"HEAD", "PATCH", "DELETE"} {
		if r := c.anonTus(m, nodes[0]+aliceUp, q.short(), "letmein", []byte("x"), map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}); r.Status != http.StatusNotFound {
			t.Fatalf("uploader %s of alice's own upload: %d", m, r.Status)
		}
	}
	c.checkFile(t, alice.Token, res.FileID, data)

	// Limits: 2,001 bytes do not fit the 2,000 left; of 6 parallel 500-byte uploads on both
	// nodes, exactly the 2 files left are taken; then the count is full.
	if _, r := c.anonCreate(nodes[0], q.short(), "letmein", 2001, "Carol"); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("2,001 bytes into 2,000 left: %d %s", r.Status, r.Body)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var created []string
	for i := range 6 {
		wg.Go(func() {
			loc, r := c.anonCreate(nodes[i%2], q.short(), "letmein", 500, "Dave")
			if r.Status == http.StatusCreated {
				mu.Lock()
				created = append(created, loc)
				mu.Unlock()
			} else if r.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("parallel upload %d: %d %s", i, r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	if len(created) != 2 {
		t.Fatalf("6 parallel uploads into 2 files left: %d began", len(created))
	}
	if _, r := c.anonCreate(nodes[1], q.short(), "letmein", 1, "Dave"); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a fourth file: %d", r.Status)
	}
	// Cancelling an unfinished upload gives its share back.
	if r := c.anonTus("DELETE", nodes[1]+created[0], q.short(), "letmein", nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("uploader cancels: %d %s", r.Status, r.Body)
	}
	if _, r := c.anonCreate(nodes[0], q.short(), "letmein", 500, "Dave"); r.Status != http.StatusCreated {
		t.Fatalf("after a cancel: %d %s", r.Status, r.Body)
	}

	// Closing stops uploads at once on every node: a new one, and one in flight.
	half := c.anonTus("PATCH", nodes[1]+created[1], q.short(), "letmein", data[:250], map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
	if half.Status != http.StatusNoContent {
		t.Fatalf("half an upload: %d %s", half.Status, half.Body)
	}
	if r := c.do("POST", nodes[0]+"/v1/requests/"+q.ID+"/close", nil, bearer(alice.Token)); r.Status != 200 || !strings.Contains(string(r.Body), `"open":false`) {
		t.Fatalf("close: %d %s", r.Status, r.Body)
	}
	for _, n := range nodes {
		if _, r := c.anonCreate(n, q.short(), "letmein", 10, "Dave"); r.Status != http.StatusNotFound {
			t.Fatalf("new upload on %s after closing: %d", n, r.Status)
		}
		if r := c.anonTus("PATCH", n+created[1], q.short(), "letmein", data[250:500], map[string]string{"Upload-Offset": "250", "Content-Type": "application/offset+octet-stream"}); r.Status != http.StatusNotFound {
			t.Fatalf("upload in flight on %s after closing: %d", n, r.Status)
		}
		if r := c.do("GET", n+"/v1/r/"+q.short(), nil, map[string]string{"Coffer-Link-Password": "letmein"}); r.Status != http.StatusNotFound {
			t.Fatalf("closed request's info on %s: %d", n, r.Status)
		}
	}
	// Past the door (the request's admission on each tus request), each write checks that the
	// request is still open: not even its owner's token continues the upload on either node,
	// and nothing more of it is stored.
	for _, n := range nodes {
		r := c.do("PATCH", n+created[1], bytes.NewReader(data[250:500]), with(alice.Token, map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Offset": "250", "Content-Type": "application/offset+octet-stream"}))
		if r.Status != http.StatusNotFound {
			t.Fatalf("the owner continues an upload of the closed request on %s: %d %s", n, r.Status, r.Body)
		}
	}
	if n := s.queryInt(`SELECT received FROM file_uploads WHERE id = $1`, strings.TrimPrefix(created[1], "/v1/uploads/")); n != 250 {
		t.Fatalf("the upload of the closed request holds %d bytes, want 250", n)
	}

	// Wrong passwords: the answer of an unknown request, then throttled (on both nodes).
	q2 := c.makeRequest(nodes[1], alice.Token, map[string]any{"title": "Guess me", "expires_in": 600, "password": "right"})
	for i := range 10 {
		if _, r := c.anonCreate(nodes[i%2], q2.short(), "wrong"+strconv.Itoa(i), 1, ""); r.Status != http.StatusNotFound {
			t.Fatalf("wrong password %d: %d", i, r.Status)
		}
	}
	_, r = c.anonCreate(nodes[0], q2.short(), "right", 1, "")
	expectProblem(t, "throttled request", r, http.StatusTooManyRequests, "too_many_attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if logs := s.Files[0].Logs() + s.Files[1].Logs(); strings.Contains(logs, "letmein") || strings.Contains(logs, q.short()) {
		t.Fatal("a node's log holds a request password or id")
	}
}
