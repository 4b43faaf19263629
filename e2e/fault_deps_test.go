package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFaultPostgresRestart: PostgreSQL stopped and restarted under traffic. While it is down
// the node answers 503 with Retry-After (never another 5xx, never a crash); once it is back
// the same process serves again without a restart.
func TestFaultPostgresRestart(t *testing.T) {
	pg := dedicatedCluster(t)
	s := stackOn(t, pg)
	s.Auth = s.StartAuth(nil)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	node := startProc(t, "files", bins.Files, addr, filesEnv(s, addr, dataDir, nil))
	waitReady(t, node, 30*time.Second)
	c := &client{t: t, http: &http.Client{Timeout: 30 * time.Second}, auth: s.Auth.URL, files: node.URL}
	alice := c.signUp("alice")
	before := c.upload(alice, "before.txt", []byte("written before the outage"))

	// Traffic: lists, downloads and uploads in a loop from three clients.
	var (
		mu       sync.Mutex
		statuses = map[string]int{}
		bad      []string
		seen503  atomic.Bool
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	hc := &http.Client{Timeout: 10 * time.Second}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var req *http.Request
				switch (w + i) % 3 {
				case 0:
					req, _ = http.NewRequest("GET", node.URL+"/v1/files", nil)
				case 1:
					req, _ = http.NewRequest("GET", node.URL+"/v1/files/"+before.ID+"/content", nil)
				case 2:
					req, _ = http.NewRequest("POST", node.URL+"/v1/files?name=during.txt", strings.NewReader("x"))
				}
				req.Header.Set("Authorization", "Bearer "+alice)
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					continue
				}
				resp.Body.Close()
				key := fmt.Sprintf("%s %d", req.Method, resp.StatusCode)
				mu.Lock()
				statuses[key]++
				switch {
				case resp.StatusCode == 503:
					if resp.Header.Get("Retry-After") == "" {
						bad = append(bad, "503 without Retry-After")
					}
					seen503.Store(true)
				case resp.StatusCode >= 500 || (resp.StatusCode >= 400 && resp.StatusCode != 503):
					bad = append(bad, key)
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	time.Sleep(300 * time.Millisecond) // let traffic flow before the outage (load shape, not synchronisation)
	if err := pg.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a 503 while PostgreSQL is down", seen503.Load)
	if r := c.do("GET", node.URL+"/readyz", nil, nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("readyz while PostgreSQL is down: %d", r.Status)
	}
	// The auth service answers an outage the same way: 503, Retry-After, a stable code, and
	// a warning rather than an ERROR line.
	for name, r := range map[string]response{
		"login": c.postJSON(s.Auth.URL+"/v1/login", map[string]string{"username": "alice", "password": "whatever-password"}),
		"refresh": c.postForm(s.Auth.URL+"/oauth2/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {strings.Repeat("r", 43)}}, nil),
	} {
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("auth %s while PostgreSQL is down: %d (Retry-After %q) %s", name, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
		if !strings.Contains(string(r.Body), `"unavailable"`) {
			t.Fatalf("auth %s while PostgreSQL is down: body %s, want the code unavailable", name, r.Body)
		}
	}
	if logs := s.Auth.Logs(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Fatalf("auth logged an ERROR for an outage:\n%s", logs)
	}
	if err := pg.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the node to serve again", func() bool {
		return c.do("GET", node.URL+"/readyz", nil, nil).Status == http.StatusOK
	})
	// Recovery: fresh requests all succeed from here on.
	mu.Lock()
	statuses = map[string]int{}
	mu.Unlock()
	after := c.upload(alice, "after.txt", []byte("written after the outage"))
	if r := c.do("GET", node.URL+"/v1/files/"+after.ID+"/content", nil, bearer(alice)); r.Status != 200 {
		t.Fatalf("download after recovery: %d", r.Status)
	}
	time.Sleep(500 * time.Millisecond) // more traffic after recovery (load shape)
	close(stop)
	wg.Wait()
	select {
	case <-node.Done():
		t.Fatalf("the node exited during the outage:\n%s", node.Logs())
	default:
	}
	for k, n := range statuses {
		if !strings.HasSuffix(k, " 200") && !strings.HasSuffix(k, " 201") {
			t.Errorf("after recovery: %d × %s", n, k)
		}
	}
	for _, b := range bad {
		t.Errorf("during the outage: %s", b)
	}
	if r := c.do("GET", node.URL+"/v1/files/"+before.ID+"/content", nil, bearer(alice)); !bytes.Equal(r.Body, []byte("written before the outage")) {
		t.Fatalf("file from before the outage: %d %q", r.Status, r.Body)
	}
}

// TestFaultStartWhileDependenciesDown: a file node started while auth and PostgreSQL are both
// down stays up, is not ready, fails closed (no request is served), and becomes ready by
// itself once they return.
func TestFaultStartWhileDependenciesDown(t *testing.T) {
	pg := dedicatedCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := pg.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	s := stackOn(t, pg)
	authAddr := freeAddr(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	node := startProc(t, "files-early", bins.Files, addr, map[string]string{
		"COFFER_FILES_ADDR": addr, "COFFER_FILES_DATABASE_URL": s.fileDB,
		"COFFER_FILES_AUTH_URL": "http://" + authAddr, "COFFER_FILES_DATA_DIR": dataDir,
	})
	c := &client{t: t, http: &http.Client{Timeout: 10 * time.Second}, files: node.URL}
	waitFor(t, 20*time.Second, "the node to listen", func() bool {
		resp, err := http.Get(node.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	// For a while: alive, not ready, and refusing even a well-formed request.
	for range 20 {
		if r := c.do("GET", node.URL+"/readyz", nil, nil); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("readyz with dependencies down: %d", r.Status)
		}
		r := c.do("GET", node.URL+"/v1/files", nil, bearer("a.b.c"))
		if r.Status != http.StatusServiceUnavailable && r.Status != http.StatusUnauthorized {
			t.Fatalf("request with dependencies down: %d %s", r.Status, r.Body)
		}
		select {
		case <-node.Done():
			t.Fatalf("node exited with dependencies down:\n%s", node.Logs())
		default:
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := pg.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	s.Auth = s.StartAuth(map[string]string{"COFFER_AUTH_ADDR": authAddr})
	waitFor(t, 45*time.Second, "the node to become ready by itself", func() bool {
		return c.do("GET", node.URL+"/readyz", nil, nil).Status == http.StatusOK
	})
	c.auth = s.Auth.URL
	tok := c.signUp("alice")
	c.upload(tok, "late.txt", []byte("works"))
}

// TestFaultDiskFull: a data folder on a small tmpfs. An upload that does not fit is 507
// insufficient_storage and leaves nothing; reads still work; once there is room again,
// uploads work, without a restart.
// Under CI=true it cannot be skipped: a CI run that could not mount the tmpfs fails, so the
// row of docs/SECURITY.md is never "passed" by a skip.
func TestFaultDiskFull(t *testing.T) {
	notProven := t.Skipf
	if os.Getenv("CI") == "true" {
		notProven = t.Fatalf
	}
	if os.Geteuid() != 0 {
		notProven("NOT PROVEN here: mounting a size-limited tmpfs needs root")
	}
	dataDir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", dataDir).CombinedOutput(); err != nil {
		notProven("NOT PROVEN here: cannot mount a tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dataDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dataDir, err, out)
		}
	})
	s := startStack(t, stackOptions{MaxFileSize: "64M", FilesEnv: map[string]string{"COFFER_FILES_DATA_DIR": dataDir}})
	c := s.client()
	alice := c.signUp("alice")
	small := bytes.Repeat([]byte("s"), 1<<20)
	f := c.upload(alice, "small.bin", small)
	for _, size := range []int{8 << 20, 3<<20 + 512<<10} {
		r := c.do("POST", c.files+"/v1/files?name=big.bin", bytes.NewReader(bytes.Repeat([]byte("b"), size)),
			map[string]string{"Authorization": "Bearer " + alice, "Content-Type": "application/octet-stream"})
		if r.Status != http.StatusInsufficientStorage || r.problemCode(t) != "insufficient_storage" {
			t.Fatalf("%d-byte upload on a full disk: %d %s, want 507", size, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "no space") || strings.Contains(string(r.Body), dataDir) {
			t.Fatalf("507 body leaks internals: %s", r.Body)
		}
		waitFor(t, 10*time.Second, "nothing partial left", func() bool {
			return countFiles(t, dataDir) == 1 && len(tempFiles(t, dataDir)) == 0
		})
	}
	var list struct {
		Files []fileJSON `json:"files"`
	}
	c.do("GET", c.files+"/v1/files", nil, bearer(alice)).JSON(t, &list)
	if len(list.Files) != 1 {
		t.Fatalf("list after failed uploads: %+v", list.Files)
	}
	if r := c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(alice)); r.Status != 200 || !bytes.Equal(r.Body, small) {
		t.Fatalf("read on a full disk: %d", r.Status)
	}
	// Space returns.
	if out, err := exec.Command("mount", "-o", "remount,size=32m", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v %s", err, out)
	}
	big := c.upload(alice, "big.bin", bytes.Repeat([]byte("b"), 8<<20))
	if big.Size != 8<<20 {
		t.Fatalf("upload after space returned: %+v", big)
	}
}
