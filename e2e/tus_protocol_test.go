package e2e_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTusAcrossNodes: an upload created on node 0 continues on node 1, chunk by chunk, with
// per-PATCH checksums; the response that completes it names the file, which /v1/files shows
// with the upload's id, size and SHA-256 and the exact bytes. Another user's upload URL
// answers 404 exactly like an unknown one for HEAD, PATCH and DELETE; a wrong checksum is
// 460 and leaves the offset where it was; a stale offset is 409.
func TestTusAcrossNodes(t *testing.T) {
	s := startStack(t, stackOptions{FileNodes: 2})
	c := s.client()
	alice, bob := c.newUser("alice", ""), c.newUser("bob", "")
	n0, n1 := s.Files[0].URL, s.Files[1].URL
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	tc := c.tus(alice.Token)

	path, r := tc.create(n0, int64(len(data)), "résumé.txt", nil)
	if r.Status != http.StatusCreated || !strings.HasPrefix(path, "/v1/uploads/") {
		t.Fatalf("create: %d %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	exp, err := http.ParseTime(r.Header.Get("Upload-Expires"))
	if err != nil || exp.Before(time.Now().Add(23*time.Hour)) {
		t.Fatalf("Upload-Expires = %q", r.Header.Get("Upload-Expires"))
	}
	id := strings.TrimPrefix(path, "/v1/uploads/")
	if s.fileRows() != 0 {
		t.Fatal("a file row exists before the upload finished")
	}

	// Another user, an unknown id, a malformed id: the same 404.
	unknown := "/v1/uploads/00000000-0000-4000-8000-000000000000"
	var bodies []string
	for _, p := range []string{path, unknown} {
		for _, m := range []string{"HEAD", "PATCH", "DELETE"} {
			var rr response
			h := tusHeaders(bob.Token, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
			if m == "PATCH" {
				rr = c.do(m, n1+p, bytes.NewReader(data[:10]), h)
			} else {
				rr = c.do(m, n1+p, nil, h)
			}
			if rr.Status != http.StatusNotFound {
				t.Fatalf("bob %s %s: %d %s", m, p, rr.Status, rr.Body)
			}
			if m != "HEAD" {
				if code := rr.problemCode(t); code != "not_found" {
					t.Fatalf("bob %s: code %q", m, code)
				}
				bodies = append(bodies, strings.ReplaceAll(string(rr.Body), id, "ID"))
			}
		}
	}
	if !strings.Contains(bodies[0], `"instance":"/v1/uploads/ID"`) || strings.ReplaceAll(bodies[2], "00000000-0000-4000-8000-000000000000", "ID") != bodies[0] {
		t.Fatalf("another user's upload and an unknown one differ:\n%s\n%s", bodies[0], bodies[2])
	}

	chunk := 1 << 20
	if r := tc.patch(n0, path, 0, data[:chunk], ""); r.Status != http.StatusNoContent || r.Header.Get("Upload-Offset") != "1048576" {
		t.Fatalf("PATCH 1: %d %v %s", r.Status, r.Header, r.Body)
	}
	// A wrong checksum: 460, nothing kept.
	bad := sha256.Sum256([]byte("something else"))
	if r := tc.patch(n1, path, int64(chunk), data[chunk:2*chunk], "sha256 "+base64.StdEncoding.EncodeToString(bad[:])); r.Status != 460 {
		t.Fatalf("PATCH with a wrong checksum: %d %s", r.Status, r.Body)
	}
	if got := tc.offset(n1, path); got != int64(chunk) {
		t.Fatalf("offset after a checksum mismatch = %d, want %d", got, chunk)
	}
	if r := tc.patch(n1, path, 0, data[:10], ""); r.Status != http.StatusConflict {
		t.Fatalf("PATCH at a stale offset: %d", r.Status)
	}
	if r := tc.patch(n1, path, int64(chunk), data[chunk:2*chunk], "-"); r.Status != http.StatusNoContent {
		t.Fatalf("PATCH 2 on node 1: %d %s", r.Status, r.Body)
	}
	if got := tc.offset(n0, path); got != int64(2*chunk) {
		t.Fatalf("offset on node 0 = %d", got)
	}
	if c.listCount(alice.Token) != 0 {
		t.Fatal("the file is listed before its last byte")
	}
	r = tc.patch(n0, path, int64(2*chunk), data[2*chunk:], "")
	if r.Status != http.StatusNoContent || r.Header.Get("Coffer-File-Id") != id {
		t.Fatalf("last PATCH: %d Coffer-File-Id %q %s", r.Status, r.Header.Get("Coffer-File-Id"), r.Body)
	}
	c.checkFile(t, alice.Token, id, data)
	// The finished upload still answers its offset (a client that lost the last response).
	if rr := tc.head(n1, path); rr.Status != http.StatusOK || rr.Header.Get("Upload-Offset") != rr.Header.Get("Upload-Length") || rr.Header.Get("Coffer-File-Id") != id {
		t.Fatalf("HEAD after completion: %d %v", rr.Status, rr.Header)
	}
	if s.queryInt(`SELECT count(*) FROM file_quota_reservations`) != 0 {
		t.Fatal("a reservation outlived the upload")
	}
}

// TestTusCreationRules: Upload-Length over the limit is 413 before any byte; bad metadata is
// 400 problem+json; a quota too small is 413; creation with an upload and a zero-length upload
// both work; termination removes an unfinished upload and its reservation; a PATCH with the
// wrong Content-Type is 415; a Repr-Digest gets the same answer on /v1/uploads as on /v1/files.
func TestTusCreationRules(t *testing.T) {
	s := startStack(t, stackOptions{MaxFileSize: "1M", FilesEnv: map[string]string{"COFFER_FILES_USER_QUOTA": "1536K"}})
	c := s.client()
	alice := c.newUser("alice", "")
	n := s.Files[0].URL
	tc := c.tus(alice.Token)

	if _, r := tc.create(n, 1<<20+1, "big", nil); r.Status != http.StatusRequestEntityTooLarge || r.problemCode(t) != "file_too_large" {
		t.Fatalf("over the limit: %d %s", r.Status, r.Body)
	}
	for _, meta := range []string{tusMeta("filetype", "text/plain"), tusMeta("filename", "a\nb"), tusMeta("filename", "x", "filetype", "not a type")} {
		if _, r := tc.create(n, 10, "", map[string]string{"Upload-Metadata": meta}); r.Status != http.StatusBadRequest || r.problemCode(t) != "invalid_request" {
			t.Fatalf("metadata %q: %d %s", meta, r.Status, r.Body)
		}
	}
	if s.queryInt(`SELECT count(*) FROM file_uploads`) != 0 {
		t.Fatal("a refused creation left a row")
	}
	p1, r := tc.create(n, 1<<20, "one", nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if _, r := tc.create(n, 1<<20, "two", nil); r.Status != http.StatusRequestEntityTooLarge || r.problemCode(t) != "quota_exceeded" {
		t.Fatalf("over quota: %d %s", r.Status, r.Body)
	}
	if r := tc.patch(n, p1, 0, make([]byte, 1000), ""); r.Status != http.StatusNoContent {
		t.Fatalf("PATCH: %d", r.Status)
	}
	for _, ct := range []string{"", "application/octet-stream", "application/offset+octet-stream; x=1"} {
		h := tusHeaders(alice.Token, map[string]string{"Upload-Offset": "1000", "Content-Type": ct})
		if r := c.do("PATCH", n+p1, strings.NewReader("x"), h); r.Status != http.StatusUnsupportedMediaType || r.problemCode(t) != "unsupported_media_type" {
			t.Fatalf("PATCH with Content-Type %q: %d %s", ct, r.Status, r.Body)
		}
	}
	if tc.offset(n, p1) != 1000 {
		t.Fatal("a refused PATCH moved the offset")
	}
	if r := c.do("DELETE", n+p1, nil, tusHeaders(alice.Token, nil)); r.Status != http.StatusNoContent {
		t.Fatalf("terminate: %d %s", r.Status, r.Body)
	}
	if tc.offset(n, p1) != -404 || s.queryInt(`SELECT count(*) FROM file_quota_reservations`) != 0 {
		t.Fatal("termination left the upload or its reservation")
	}

	data := []byte("created with its bytes")
	sum := sha256.Sum256(data)
	r = c.do("POST", n+"/v1/uploads/", bytes.NewReader(data), tusHeaders(alice.Token, map[string]string{
		"Upload-Length": "22", "Upload-Metadata": tusMeta("filename", "small.txt"), "Content-Type": "application/offset+octet-stream",
		"Repr-Digest": "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":",
	}))
	if r.Status != http.StatusCreated || r.Header.Get("Upload-Offset") != "22" || r.Header.Get("Coffer-File-Id") == "" {
		t.Fatalf("creation with upload: %d %v %s", r.Status, r.Header, r.Body)
	}
	c.checkFile(t, alice.Token, r.Header.Get("Coffer-File-Id"), data)

	_, r = tc.create(n, 0, "empty", nil)
	if r.Status != http.StatusCreated || r.Header.Get("Coffer-File-Id") == "" {
		t.Fatalf("empty upload: %d %v", r.Status, r.Header)
	}
	c.checkFile(t, alice.Token, r.Header.Get("Coffer-File-Id"), nil)

	// A whole-file digest that does not match: 400 at the end, nothing kept.
	wrong := sha256.Sum256([]byte("other"))
	p, r := tc.create(n, 5, "w", map[string]string{"Repr-Digest": "sha-256=:" + base64.StdEncoding.EncodeToString(wrong[:]) + ":"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d", r.Status)
	}
	if r := tc.patch(n, p, 0, []byte("hello"), ""); r.Status != http.StatusBadRequest || r.problemCode(t) != "digest_mismatch" {
		t.Fatalf("wrong whole-file digest: %d %s", r.Status, r.Body)
	}
	if c.listCount(alice.Token) != 2 || s.queryInt(`SELECT count(*) FROM file_uploads WHERE completed_at IS NULL`) != 0 {
		t.Fatal("a digest mismatch left a file or an upload")
	}

	// One parser: a malformed Repr-Digest is the same 400 on both upload routes, and nothing
	// is created by either.
	files := c.listCount(alice.Token)
	for _, v := range []string{"sha-256=", "sha-256=::", "sha-256=AAAA", "SHA-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":", "sha-512=AAAA, sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"} {
		direct := c.do("POST", n+"/v1/files?name=d", strings.NewReader("hello"), with(alice.Token, map[string]string{"Repr-Digest": v}))
		_, resumable := tc.create(n, 5, "r", map[string]string{"Repr-Digest": v})
		if direct.Status != http.StatusBadRequest || resumable.Status != direct.Status || resumable.problemCode(t) != direct.problemCode(t) {
			t.Errorf("Repr-Digest %q: /v1/files %d %s, /v1/uploads %d %s", v, direct.Status, direct.Body, resumable.Status, resumable.Body)
		}
	}
	if c.listCount(alice.Token) != files || s.queryInt(`SELECT count(*) FROM file_uploads WHERE completed_at IS NULL`) != 0 {
		t.Fatal("a malformed Repr-Digest left a file or an upload")
	}

	if r := c.do("OPTIONS", n+"/v1/uploads/", nil, nil); r.Status != http.StatusOK || !strings.Contains(r.Header.Get("Tus-Extension"), "checksum") || r.Header.Get("Tus-Max-Size") != "1048576" {
		t.Fatalf("OPTIONS: %d %v", r.Status, r.Header)
	}
	if r := c.do("POST", n+"/v1/uploads/", nil, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "1"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.Status)
	}
}
