package e2e_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFaultKillNodeMidUpload: kill -9 of a file node while an upload streams, then restart:
// the file never appears, other files are intact, and the periodic collector sweeps the
// temp bytes.
func TestFaultKillNodeMidUpload(t *testing.T) {
	s := startStack(t, stackOptions{FileNodes: 1})
	c := s.client()
	alice := c.signUp("alice")

	dataDir := t.TempDir()
	addr := freeAddr(t)
	env := filesEnv(s, addr, dataDir, nil)
	node := startProc(t, "files-victim", bins.Files, addr, env)
	waitReady(t, node, 30*time.Second)
	c.files = node.URL
	kept := c.upload(alice, "kept.txt", []byte("survives the crash"))

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /v1/files?name=doomed.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+alice+
		"\r\nContent-Type: application/octet-stream\r\nContent-Length: 8388608\r\n\r\n")
	conn.Write(bytes.Repeat([]byte("d"), 1<<20))
	waitFor(t, 10*time.Second, "the upload's temp file", func() bool { return len(tempFiles(t, dataDir)) > 0 })
	if err := node.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-node.Done()
	conn.Close()

	for k, v := range fastGC {
		env[k] = v
	}
	node = startProc(t, "files-restarted", bins.Files, addr, env)
	waitReady(t, node, 30*time.Second)
	var list struct {
		Files []fileJSON `json:"files"`
	}
	c.do("GET", c.files+"/v1/files", nil, bearer(alice)).JSON(t, &list)
	if len(list.Files) != 1 || list.Files[0].ID != kept.ID {
		t.Fatalf("after kill -9 the list is %+v, want only kept.txt", list.Files)
	}
	if r := c.do("GET", c.files+"/v1/files/"+kept.ID+"/content", nil, bearer(alice)); string(r.Body) != "survives the crash" {
		t.Fatalf("kept.txt after crash: %d %q", r.Status, r.Body)
	}
	if n := len(blobPaths(t, dataDir)); n != 1 {
		t.Fatalf("%d blobs after the crash, want 1", n)
	}
	waitFor(t, 30*time.Second, "the periodic collector to sweep the temp file", func() bool { return len(tempFiles(t, dataDir)) == 0 })
	if n := len(blobPaths(t, dataDir)); n != 1 {
		t.Fatalf("%d blobs after the sweep, want kept.txt's only", n)
	}
}

// fastGC makes a restarted node's periodic collector run often and take anything older than a
// moment, so the test sees the sweep without waiting for production ages.
var fastGC = map[string]string{
	"COFFER_FILES_GC_INTERVAL":       "200ms",
	"COFFER_FILES_GC_GRACE":          "500ms",
	"COFFER_FILES_GC_INCOMPLETE_AGE": "500ms",
}

// TestFaultCrashBetweenBlobAndCommit: a node killed after the blob is durable but before its
// row is committed (a crash point compiled in with -tags faultinject) never shows the file;
// the orphan blob is collected by the periodic collector.
func TestFaultCrashBetweenBlobAndCommit(t *testing.T) {
	bin := faultInjectFiles(t)
	s := startStack(t, stackOptions{})
	c := s.client()
	alice := c.signUp("alice")
	dataDir := t.TempDir()
	addr := freeAddr(t)
	env := filesEnv(s, addr, dataDir, map[string]string{"COFFER_FILES_CRASH_POINT": "after-blob"})
	node := startProc(t, "files-crashy", bin, addr, env)
	waitReady(t, node, 30*time.Second)

	req, _ := http.NewRequest("POST", node.URL+"/v1/files?name=orphan.bin", bytes.NewReader(bytes.Repeat([]byte("o"), 100<<10)))
	req.Header.Set("Authorization", "Bearer "+alice)
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("upload answered %d; the crash point did not fire", resp.StatusCode)
	}
	select {
	case <-node.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("node still running after its crash point")
	}
	orphans := blobPaths(t, dataDir)
	if len(orphans) != 1 {
		t.Fatalf("blobs after crash: %v, want the one durable orphan", orphans)
	}
	id := filepath.Base(orphans[0])

	delete(env, "COFFER_FILES_CRASH_POINT")
	for k, v := range fastGC {
		env[k] = v
	}
	node = startProc(t, "files-after-crash", bins.Files, addr, env)
	waitReady(t, node, 30*time.Second)
	c.files = node.URL
	var list struct {
		Files []fileJSON `json:"files"`
	}
	c.do("GET", c.files+"/v1/files", nil, bearer(alice)).JSON(t, &list)
	if len(list.Files) != 0 {
		t.Fatalf("the uncommitted upload is visible: %+v", list.Files)
	}
	for _, p := range []string{"/v1/files/" + id, "/v1/files/" + id + "/content"} {
		if r := c.do("GET", c.files+p, nil, bearer(alice)); r.Status != http.StatusNotFound {
			t.Fatalf("GET %s of the orphan: %d", p, r.Status)
		}
	}
	waitFor(t, 30*time.Second, "the periodic collector to remove the orphan blob", func() bool { return len(blobPaths(t, dataDir)) == 0 })
}

// TestFaultSIGTERMDuringTransfer: on SIGTERM readiness fails first, an upload and a download
// in flight both finish, and the node exits 0.
func TestFaultSIGTERMDuringTransfer(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client()
	alice := c.signUp("alice")
	dataDir := t.TempDir()
	addr := freeAddr(t)
	node := startProc(t, "files-draining", bins.Files, addr, filesEnv(s, addr, dataDir, map[string]string{"COFFER_FILES_DRAIN_DELAY": "1s"}))
	waitReady(t, node, 30*time.Second)
	c.files = node.URL
	big := make([]byte, 8<<20)
	rand.Read(big)
	dl := c.upload(alice, "big.bin", big)

	// A download, started and left half read.
	dreq, _ := http.NewRequest("GET", node.URL+"/v1/files/"+dl.ID+"/content", nil)
	dreq.Header.Set("Authorization", "Bearer "+alice)
	dresp, err := c.http.Do(dreq)
	if err != nil {
		t.Fatal(err)
	}
	defer dresp.Body.Close()
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(dresp.Body, head); err != nil {
		t.Fatal(err)
	}

	// An upload, started and left half sent.
	pr, pw := io.Pipe()
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", node.URL+"/v1/files?name=inflight.bin", pr)
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	part := bytes.Repeat([]byte("u"), 256<<10)
	pw.Write(part)
	waitFor(t, 10*time.Second, "the in-flight upload's temp file", func() bool { return len(tempFiles(t, dataDir)) > 0 })

	if err := node.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "readiness to fail after SIGTERM", func() bool {
		resp, err := http.Get(node.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	select {
	case <-node.Done():
		t.Fatal("node exited with an upload in flight")
	default:
	}
	// Both transfers complete.
	for range 3 {
		pw.Write(part)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight upload: %v %d %s", r.err, r.status, r.body)
	}
	rest, err := io.ReadAll(dresp.Body)
	if err != nil || !bytes.Equal(append(head, rest...), big) {
		t.Fatalf("in-flight download: %v, %d bytes", err, len(head)+len(rest))
	}
	select {
	case <-node.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("node did not exit after draining")
	}
	if err := node.ExitErr(); err != nil {
		t.Fatalf("exit: %v, want 0\n%s", err, node.Logs())
	}
	if !strings.Contains(node.Logs(), "stopped") {
		t.Fatalf("no clean stop in the logs:\n%s", node.Logs())
	}
}

// TestFaultCrossNodeVisibility: a file uploaded on one node is readable on another at once.
func TestFaultCrossNodeVisibility(t *testing.T) {
	s := startStack(t, stackOptions{FileNodes: 2})
	c := s.client()
	alice := c.signUp("alice")
	for i := range 10 {
		data := bytes.Repeat([]byte{byte(i)}, 1000+i)
		c.files = s.Files[i%2].URL
		f := c.upload(alice, "x.bin", data)
		other := s.Files[(i+1)%2].URL
		if r := c.do("GET", other+"/v1/files/"+f.ID+"/content", nil, bearer(alice)); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
			t.Fatalf("upload on node %d, read on the other: %d", i%2, r.Status)
		}
		if r := c.do("DELETE", other+"/v1/files/"+f.ID, nil, bearer(alice)); r.Status != http.StatusNoContent {
			t.Fatalf("delete on the other node: %d", r.Status)
		}
		if r := c.do("GET", c.files+"/v1/files/"+f.ID, nil, bearer(alice)); r.Status != http.StatusNotFound {
			t.Fatalf("deleted on one node, still on the other: %d", r.Status)
		}
	}
}
