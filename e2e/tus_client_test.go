package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
)

// tusJS runs e2e/node/tus-upload.mjs (npm tus-js-client) with args and decodes its report.
func tusJS(t *testing.T, args ...string) tusJSResult {
	t.Helper()
	var res tusJSResult
	runTusNode(t, 3*time.Minute, "tus-upload.mjs", args, &res)
	return res
}

// runTusNode runs script of e2e/node (npm tus-js-client) with args under Node.js and decodes
// the JSON report it prints into res. A missing tus-js-client or Node.js fails the test.
func runTusNode(t testing.TB, timeout time.Duration, script string, args []string, res any) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "e2e", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tus-js-client", "package.json")); err != nil {
		t.Fatalf("tus-js-client is not installed in e2e/node: run `make node-deps` (npm ci --prefix e2e/node): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("Node.js is required for this test: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tus-js-client: %v\n%s%s", err, out, stderr.String())
	}
	if err := json.Unmarshal(out, res); err != nil {
		t.Fatalf("tus-js-client printed %q: %v\n%s", out, err, stderr.String())
	}
}

type tusJSResult struct {
	URL         string `json:"url"`
	Status      string `json:"status"`
	FileID      string `json:"fileId"`
	StartOffset *int64 `json:"startOffset"`
	Sent        int64  `json:"sent"`
	HTTPStatus  int    `json:"httpStatus"` // with --expect-error
}

// TestTusJSClientResumesOnAnotherNode: tus-js-client, a client nobody here wrote, uploads a
// 64 MiB file in 8 MiB PATCHes to node 0 and is cut off part-way (mid-PATCH); a second run
// resumes the same upload URL through node 1 from the offset the first run left, and the
// file in /v1/files is byte-identical, with the right SHA-256 and the upload's id.
func TestTusJSClientResumesOnAnotherNode(t *testing.T) {
	s := startStack(t, stackOptions{FileNodes: 2})
	c := s.client()
	alice := c.newUser("alice", "")
	data := make([]byte, 64<<20)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	first := tusJS(t, "--endpoint", s.Files[0].URL+"/v1/uploads/", "--token", alice.Token, "--file", path,
		"--chunk-size", strconv.Itoa(8<<20), "--abort-after", strconv.Itoa(21<<20))
	if first.Status != "aborted" || !strings.HasPrefix(first.URL, s.Files[0].URL+"/v1/uploads/") {
		t.Fatalf("first run: %+v", first)
	}
	u, err := url.Parse(first.URL)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(u.Path, "/v1/uploads/")
	tc := c.tus(alice.Token)
	kept := tc.offset(s.Files[1].URL, u.Path)
	t.Logf("the cut-off upload kept %d of %d bytes", kept, len(data))
	if kept < 16<<20 || kept >= int64(len(data)) {
		t.Fatalf("after the cut-off the upload holds %d bytes, want at least the two acknowledged PATCHes (16 MiB) and less than all", kept)
	}
	if n := c.listCount(alice.Token); n != 0 {
		t.Fatalf("%d files listed before the upload finished", n)
	}

	second := tusJS(t, "--endpoint", s.Files[1].URL+"/v1/uploads/", "--token", alice.Token, "--file", path,
		"--chunk-size", strconv.Itoa(8<<20), "--upload-url", s.Files[1].URL+u.Path)
	if second.Status != "done" || second.FileID != id {
		t.Fatalf("second run: %+v, want done with file id %s", second, id)
	}
	if second.StartOffset == nil || *second.StartOffset != kept {
		t.Fatalf("the second run started at %v, want the %d bytes kept (a resume, not a restart)", second.StartOffset, kept)
	}
	if !strings.Contains(s.Files[1].Logs(), "PATCH") {
		t.Fatal("node 1 served no PATCH")
	}
	c.checkFile(t, alice.Token, id, data)
}
