package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
	"github.com/cofferhq/coffer/pkg/s3test"
)

// s3Env is the file-node environment that stores blobs in srv's bucket.
func s3Env(srv *s3test.Server, bucket string) map[string]string {
	return map[string]string{
		"COFFER_FILES_STORAGE":       "s3",
		"COFFER_FILES_S3_ENDPOINT":   srv.Endpoint,
		"COFFER_FILES_S3_BUCKET":     bucket,
		"COFFER_FILES_S3_REGION":     srv.Region,
		"COFFER_FILES_S3_ACCESS_KEY": srv.AccessKey,
		"COFFER_FILES_S3_SECRET_KEY": srv.SecretKey,
	}
}

// runGC runs `coffer-files gc` once against the stack's database with env (the storage
// settings), collecting everything regardless of age, and returns its output.
func (s *stack) runGC(env map[string]string) string {
	s.t.Helper()
	full := map[string]string{
		"COFFER_FILES_DATABASE_URL":      s.fileDB,
		"COFFER_FILES_AUTH_URL":          s.Auth.URL,
		"COFFER_FILES_GC_GRACE":          "1ns",
		"COFFER_FILES_GC_INCOMPLETE_AGE": "1ns",
	}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Files, "gc")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, harness.Env(full)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("coffer-files gc: %v\n%s", err, out)
	}
	return string(out)
}

// startKillableFiles starts a file node that the test may kill -9: its cleanup does not
// require a clean exit.
func (s *stack) startKillableFiles(extra map[string]string) *harness.Process {
	s.t.Helper()
	addr := freeAddr(s.t)
	env := map[string]string{
		"COFFER_FILES_ADDR":         addr,
		"COFFER_FILES_DATABASE_URL": s.fileDB,
		"COFFER_FILES_AUTH_URL":     s.Auth.URL,
		"COFFER_FILES_DATA_DIR":     s.t.TempDir(),
	}
	for k, v := range extra {
		env[k] = v
	}
	p, err := harness.Start(harness.Spec{Name: "files", Bin: bins.Files, Addr: addr, Env: harness.Env(env)})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { p.Kill() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx, "/readyz"); err != nil {
		s.t.Fatalf("%v\n%s", err, p.Logs())
	}
	return p
}

// partialUpload is an upload whose client stops sending: it declares declared bytes, sends
// sent of them, and holds the connection open until Abort.
type partialUpload struct {
	conn net.Conn
}

func startPartialUpload(t testing.TB, node *harness.Process, tok string, declared, sent int64) *partialUpload {
	t.Helper()
	conn, err := net.DialTimeout("tcp", node.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/files?name=partial.bin HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", node.Addr, tok, declared)
	if _, err := io.CopyN(conn, zeroReader{}, sent); err != nil {
		t.Fatalf("send partial body: %v", err)
	}
	return &partialUpload{conn: conn}
}

// startPartialChunkedUpload is startPartialUpload without a declared size (chunked): the
// S3 store then streams it as a multipart upload (a declared size goes in one PutObject,
// which a crash leaves no trace of).
func startPartialChunkedUpload(t testing.TB, node *harness.Process, tok string, sent int64) *partialUpload {
	t.Helper()
	conn, err := net.DialTimeout("tcp", node.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/files?name=partial.bin HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", node.Addr, tok, sent)
	if _, err := io.CopyN(conn, zeroReader{}, sent); err != nil {
		t.Fatalf("send partial body: %v", err)
	}
	return &partialUpload{conn: conn}
}

// Abort drops the connection mid-body, as a client that crashes or loses its network does.
func (p *partialUpload) Abort() { p.conn.Close() }

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 30s (%s)", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// blobFiles lists the files under a disk store: blobs and .tmp- files.
func blobFiles(dir string) (blobs, temps []string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			temps = append(temps, d.Name())
		} else {
			blobs = append(blobs, d.Name())
		}
		return nil
	})
	return blobs, temps
}

// listCount returns how many files the token's owner sees.
func (c *client) listCount(tok string) int {
	c.t.Helper()
	r := c.do("GET", c.files+"/v1/files", nil, bearer(tok))
	if r.Status != http.StatusOK {
		c.t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	var list struct {
		Files []fileJSON `json:"files"`
	}
	r.JSON(c.t, &list)
	return len(list.Files)
}

// on returns a copy of the client that talks to another file node.
func (c *client) on(node *harness.Process) *client {
	cc := *c
	cc.files = node.URL
	return &cc
}
