package e2e_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type statusJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason"`
}

// contentWatch polls the content URL of every file it is given, on and on, until stopped, and
// counts the 200s of the files that must never be served.
type contentWatch struct {
	c       *client
	tok     string
	mu      sync.Mutex
	ids     map[string]bool // id -> must never be served
	served  atomic.Int64    // bytes of a never-served file that went out
	pending atomic.Int64    // 409 scan_pending answers seen
	stop    chan struct{}
	once    sync.Once
	done    chan struct{}
}

func watchContent(c *client, tok string) *contentWatch {
	w := &contentWatch{c: c, tok: tok, ids: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			w.mu.Lock()
			var ids []string
			for id, never := range w.ids {
				if never {
					ids = append(ids, id)
				}
			}
			w.mu.Unlock()
			for _, id := range ids {
				req, _ := http.NewRequest("GET", w.c.files+"/v1/files/"+id+"/content", nil)
				req.Header.Set("Authorization", "Bearer "+w.tok)
				resp, err := w.c.http.Do(req)
				if err != nil {
					continue
				}
				if resp.StatusCode == http.StatusOK {
					w.served.Add(1)
				}
				if resp.StatusCode == http.StatusConflict && resp.Header.Get("Retry-After") != "" {
					w.pending.Add(1)
				}
				resp.Body.Close()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return w
}

func (w *contentWatch) neverServe(id string) {
	w.mu.Lock()
	w.ids[id] = true
	w.mu.Unlock()
}

func (w *contentWatch) Stop() { w.once.Do(func() { close(w.stop) }); <-w.done }

func (c *client) fileStatus(tok, id string) statusJSON {
	c.t.Helper()
	var f statusJSON
	r := c.do("GET", c.files+"/v1/files/"+id, nil, bearer(tok))
	if r.Status != http.StatusOK {
		c.t.Fatalf("GET file %s: %d %s", id, r.Status, r.Body)
	}
	r.JSON(c.t, &f)
	return f
}

func (c *client) awaitStatus(tok, id, want string) statusJSON {
	c.t.Helper()
	var f statusJSON
	eventually(c.t, "file "+id+" "+want, func() (bool, string) {
		f = c.fileStatus(tok, id)
		return f.Status == want, f.Status
	})
	return f
}

// TestScanBeforeServing: with a real clamd scanning, the EICAR test file uploaded by direct
// POST and by tus-js-client ends rejected (bytes gone, quota released, reason listed,
// file.rejected delivered) and is never downloadable, not for a moment: a watcher polls its
// content URL from the upload's answer on. A clean file ends available. With clamd stopped,
// a file stays pending_scan (409 scan_pending with Retry-After) and is scanned once clamd is
// back.
func TestScanBeforeServing(t *testing.T) {
	cd := startClamd(t)
	rc := newHookReceiver(t, 0, 0)
	dir := t.TempDir()
	s := startStack(t, stackOptions{FilesEnv: eventsEnv(map[string]string{
		"COFFER_FILES_DATA_DIR":       dir,
		"COFFER_FILES_CLAMD_ADDR":     "unix:" + cd.Sock,
		"COFFER_FILES_SCAN_RETRY_MAX": "500ms",
		"COFFER_FILES_USER_QUOTA":     "10M",
	})})
	s.subscribe(rc.URL, "file.rejected")
	c := s.client()
	alice := c.newUser("alice", "")
	w := watchContent(c, alice.Token)
	defer w.Stop()

	// Direct POST of EICAR: answered pending_scan, never served, ends rejected.
	r := c.do("POST", c.files+"/v1/files?name=eicar.com", strings.NewReader(eicar), bearer(alice.Token))
	if r.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	var up statusJSON
	r.JSON(t, &up)
	w.neverServe(up.ID)
	if up.Status != "pending_scan" {
		t.Errorf("upload answered status %q, want pending_scan", up.Status)
	}
	if r := c.do("GET", c.files+"/v1/files/"+up.ID+"/content", nil, bearer(alice.Token)); r.Status == http.StatusConflict {
		expectProblem(t, "content while pending", r, http.StatusConflict, "scan_pending")
		if r.Header.Get("Retry-After") == "" {
			t.Error("409 scan_pending without Retry-After")
		}
	}
	f := c.awaitStatus(alice.Token, up.ID, "rejected")
	if !strings.Contains(f.StatusReason, "Coffer.Test.EICAR") {
		t.Errorf("reason %q does not name the signature", f.StatusReason)
	}
	expectProblem(t, "content of a rejected file", c.do("GET", c.files+"/v1/files/"+up.ID+"/content", nil, bearer(alice.Token)), http.StatusGone, "file_rejected")
	if _, err := os.Stat(filepath.Join(dir, up.ID)); !os.IsNotExist(err) {
		blobs, _ := blobFiles(dir)
		t.Errorf("the rejected file's bytes are still on disk (%v): %v", err, blobs)
	}
	if n := s.queryInt(`SELECT coalesce(sum(used_bytes), 0) FROM file_usage`); n != 0 {
		t.Errorf("used bytes after the rejection = %d, want 0 (quota released)", n)
	}
	l, _ := c.list(alice.Token, "")
	if len(l.Files) != 1 {
		t.Fatalf("listing: %+v", l.Files)
	}
	var listed []statusJSON
	c.do("GET", c.files+"/v1/files", nil, bearer(alice.Token)).JSON(t, &struct {
		Files *[]statusJSON `json:"files"`
	}{&listed})
	if listed[0].Status != "rejected" || listed[0].StatusReason == "" {
		t.Errorf("listing shows %+v, want rejected with its reason", listed[0])
	}

	// EICAR by tus-js-client, then a clean file: rejected and available.
	res := tusEventsJS(t, c.files+"/v1/uploads/", alice.Token, "eicar-tus.com", []byte(eicar))
	if res.Status != "done" || res.FileID == "" {
		t.Fatalf("tus-js-client: %+v", res)
	}
	w.neverServe(res.FileID)
	c.awaitStatus(alice.Token, res.FileID, "rejected")
	clean := c.upload(alice.Token, "clean.txt", []byte("nothing to see here"))
	c.awaitStatus(alice.Token, clean.ID, "available")
	if r := c.do("GET", c.files+"/v1/files/"+clean.ID+"/content", nil, bearer(alice.Token)); r.Status != http.StatusOK || string(r.Body) != "nothing to see here" {
		t.Fatalf("clean content: %d %q", r.Status, r.Body)
	}

	// clamd away: files wait, pending; back: scanned.
	cd.Stop()
	r = c.do("POST", c.files+"/v1/files?name=later.txt", bytes.NewReader([]byte("scanned later")), bearer(alice.Token))
	if r.Status != http.StatusCreated {
		t.Fatalf("upload while clamd is down: %d %s", r.Status, r.Body)
	}
	var later statusJSON
	r.JSON(t, &later)
	r2 := c.do("POST", c.files+"/v1/files?name=eicar-later.com", strings.NewReader(eicar), bearer(alice.Token))
	var laterBad statusJSON
	r2.JSON(t, &laterBad)
	w.neverServe(laterBad.ID)
	// A few scan attempts fail meanwhile (retry at most every 500ms); the files stay pending.
	eventually(t, "scan attempts failing while clamd is down", func() (bool, string) {
		n := s.queryInt(`SELECT count(*) FROM river_job WHERE kind = 'file_scan' AND array_length(errors, 1) >= 2`)
		return n == 2, ""
	})
	for _, id := range []string{later.ID, laterBad.ID} {
		if st := c.fileStatus(alice.Token, id).Status; st != "pending_scan" {
			t.Fatalf("file %s is %s with clamd down, want pending_scan", id, st)
		}
	}
	expectProblem(t, "content while clamd is down", c.do("GET", c.files+"/v1/files/"+later.ID+"/content", nil, bearer(alice.Token)), http.StatusConflict, "scan_pending")
	cd.Start()
	c.awaitStatus(alice.Token, later.ID, "available")
	c.awaitStatus(alice.Token, laterBad.ID, "rejected")

	eventually(t, "file.rejected delivered for each EICAR", func() (bool, string) {
		got, _ := rc.events()
		return len(got) == 3, strings.Join(eventTypes(t, got), ",")
	})
	w.Stop()
	if n := w.served.Load(); n != 0 {
		t.Fatalf("an infected file was served %d times", n)
	}
	if w.pending.Load() == 0 {
		t.Error("the watcher never saw a 409 scan_pending: it did not poll while files were pending")
	}
}
