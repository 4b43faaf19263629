package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// tusClient speaks the tus protocol by hand, so the tests can send what a well-behaved
// client would not (a wrong checksum, a stale offset, another user's URL).
type tusClient struct {
	c   *client
	tok string
}

func (c *client) tus(tok string) *tusClient { return &tusClient{c: c, tok: tok} }

func tusHeaders(tok string, h map[string]string) map[string]string {
	out := with(tok, map[string]string{"Tus-Resumable": "1.0.0"})
	for k, v := range h {
		out[k] = v
	}
	return out
}

func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// create opens an upload of size bytes on node (a base URL) and returns its path.
func (tc *tusClient) create(node string, size int64, name string, extra map[string]string) (string, response) {
	tc.c.t.Helper()
	h := map[string]string{"Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": tusMeta("filename", name, "filetype", "text/plain")}
	for k, v := range extra {
		h[k] = v
	}
	r := tc.c.do("POST", node+"/v1/uploads/", nil, tusHeaders(tc.tok, h))
	loc := r.Header.Get("Location")
	if i := strings.Index(loc, "/v1/uploads/"); i >= 0 {
		loc = loc[i:]
	}
	return loc, r
}

// patch sends data at offset, with a per-request checksum unless sum is "-".
func (tc *tusClient) patch(node, path string, offset int64, data []byte, sum string) response {
	tc.c.t.Helper()
	h := map[string]string{"Upload-Offset": strconv.FormatInt(offset, 10), "Content-Type": "application/offset+octet-stream"}
	if sum == "" {
		s := sha256.Sum256(data)
		sum = "sha256 " + base64.StdEncoding.EncodeToString(s[:])
	}
	if sum != "-" {
		h["Upload-Checksum"] = sum
	}
	return tc.c.do("PATCH", node+path, bytes.NewReader(data), tusHeaders(tc.tok, h))
}

func (tc *tusClient) head(node, path string) response {
	tc.c.t.Helper()
	return tc.c.do("HEAD", node+path, nil, tusHeaders(tc.tok, nil))
}

// offset is the upload's offset as HEAD reports it, or -status when HEAD fails.
func (tc *tusClient) offset(node, path string) int64 {
	tc.c.t.Helper()
	r := tc.head(node, path)
	if r.Status != http.StatusOK {
		return -int64(r.Status)
	}
	n, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		tc.c.t.Fatalf("HEAD %s: Upload-Offset %q", path, r.Header.Get("Upload-Offset"))
	}
	return n
}

// fileOf fetches the file a finished upload became and checks its bytes and digest.
func (c *client) checkFile(t testing.TB, tok, id string, want []byte) {
	t.Helper()
	r := c.do("GET", c.files+"/v1/files/"+id, nil, bearer(tok))
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/files/%s: %d %s", id, r.Status, r.Body)
	}
	var f fileJSON
	r.JSON(t, &f)
	sum := sha256.Sum256(want)
	if f.Size != int64(len(want)) || f.SHA256 != hexString(sum[:]) {
		t.Fatalf("file %s: size %d sha256 %s, want %d %x", id, f.Size, f.SHA256, len(want), sum)
	}
	r = c.do("GET", c.files+"/v1/files/"+id+"/content", nil, bearer(tok))
	if r.Status != http.StatusOK || !bytes.Equal(r.Body, want) {
		t.Fatalf("content of %s: %d, %d bytes, equal %v", id, r.Status, len(r.Body), bytes.Equal(r.Body, want))
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
