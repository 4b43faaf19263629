package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Section E of SECURITY.md: hostile uploads. The stacks here cap files at 1 MiB.

// uploadEnv is a stack, its data folder, and alice.
type uploadEnv struct {
	s       *stack
	c       *client
	dataDir string
	alice   string
}

func startUploadEnv(t *testing.T) *uploadEnv {
	t.Helper()
	dir := t.TempDir()
	// No blob grace: these tests count the blobs on disk to prove a refused or deleted
	// upload keeps nothing (the grace that keeps deleted blobs for restores is gc.TestBlobGrace's).
	s := startStack(t, stackOptions{MaxFileSize: "1M", FilesEnv: map[string]string{"COFFER_FILES_DATA_DIR": dir, "COFFER_FILES_BLOB_GRACE": "0"}})
	c := s.client()
	return &uploadEnv{s: s, c: c, dataDir: dir, alice: c.signUp("alice")}
}

// state is alice's list and the number of files under the data folder.
func (e *uploadEnv) state(t testing.TB) (string, int) {
	t.Helper()
	r := e.c.do("GET", e.c.files+"/v1/files?limit=1000", nil, bearer(e.alice))
	if r.Status != http.StatusOK {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	return string(r.Body), countFiles(t, e.dataDir)
}

// eventuallyUnchanged polls until the state is back to before (an aborted upload's temp file
// may take a moment to be removed), failing at the deadline.
func (e *uploadEnv) eventuallyUnchanged(t testing.TB, list string, blobs int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, b := e.state(t)
		if l == list && b == blobs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("something was kept: list %s (was %s), %d files in the data folder (was %d)", l, list, b, blobs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *uploadEnv) raw(name string, body io.Reader, h map[string]string) response {
	hh := map[string]string{"Authorization": "Bearer " + e.alice, "Content-Type": "application/octet-stream"}
	for k, v := range h {
		hh[k] = v
	}
	return e.c.do("POST", e.c.files+"/v1/files?name="+url.QueryEscape(name), body, hh)
}

// TestAttackUploadTooLarge: over the limit, declared or streamed, is 413 and keeps nothing.
func TestAttackUploadTooLarge(t *testing.T) {
	e := startUploadEnv(t)
	e.c.upload(e.alice, "ok.bin", bytes.Repeat([]byte{1}, 1<<20)) // exactly the limit is fine
	list, blobs := e.state(t)
	over := bytes.Repeat([]byte{2}, 1<<20+1)

	t.Run("declared", func(t *testing.T) {
		r := e.raw("big.bin", bytes.NewReader(over), nil)
		expectCleanProblem(t, "declared over the limit", r, http.StatusRequestEntityTooLarge, "file_too_large", e.alice)
		e.eventuallyUnchanged(t, list, blobs)
	})
	t.Run("chunked", func(t *testing.T) {
		r := e.raw("big.bin", io.MultiReader(bytes.NewReader(over)), nil) // no length: chunked
		expectCleanProblem(t, "chunked over the limit", r, http.StatusRequestEntityTooLarge, "file_too_large", e.alice)
		e.eventuallyUnchanged(t, list, blobs)
	})
	t.Run("chunked_huge", func(t *testing.T) {
		r := e.raw("big.bin", io.LimitReader(zeros{}, 64<<20), nil)
		expectCleanProblem(t, "64 MiB chunked", r, http.StatusRequestEntityTooLarge, "file_too_large", e.alice)
		e.eventuallyUnchanged(t, list, blobs)
	})
	t.Run("multipart", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "big.bin")
		fw.Write(over)
		mw.Close()
		r := e.c.do("POST", e.c.files+"/v1/files", &body, map[string]string{"Authorization": "Bearer " + e.alice, "Content-Type": mw.FormDataContentType()})
		expectCleanProblem(t, "multipart over the limit", r, http.StatusRequestEntityTooLarge, "file_too_large", e.alice)
		e.eventuallyUnchanged(t, list, blobs)
	})
	t.Run("lying_content_length", func(t *testing.T) {
		// Content-Length says 10 bytes, 2 MiB follow: only the 10 declared bytes are a body;
		// the rest is garbage on the connection, never part of a file.
		status, _ := rawHTTP(t, e.s.Files[0].Addr, "POST /v1/files?name=liar.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.alice+
			"\r\nContent-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n"+strings.Repeat("z", 2<<20))
		if status != http.StatusCreated {
			t.Fatalf("status %d", status)
		}
		var got struct {
			Files []fileJSON `json:"files"`
		}
		r := e.c.do("GET", e.c.files+"/v1/files?prefix=liar", nil, bearer(e.alice))
		r.JSON(t, &got)
		if len(got.Files) != 1 || got.Files[0].Size != 10 {
			t.Fatalf("liar.bin = %+v, want one file of the 10 declared bytes", got.Files)
		}
		e.c.do("DELETE", e.c.files+"/v1/files/"+got.Files[0].ID, nil, bearer(e.alice))
		e.eventuallyUnchanged(t, list, blobs)
	})
	t.Run("content_length_and_chunked", func(t *testing.T) {
		status, _ := rawHTTP(t, e.s.Files[0].Addr, "POST /v1/files?name=smuggle.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.alice+
			"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		// RFC 9112 section 6.3: refuse, or let Transfer-Encoding win. Either way the file is
		// the 5 chunked bytes, never more.
		if status == http.StatusCreated {
			var got struct {
				Files []fileJSON `json:"files"`
			}
			e.c.do("GET", e.c.files+"/v1/files?prefix=smuggle", nil, bearer(e.alice)).JSON(t, &got)
			if len(got.Files) != 1 || got.Files[0].Size != 5 {
				t.Fatalf("smuggle.bin = %+v, want the 5 chunked bytes", got.Files)
			}
			e.c.do("DELETE", e.c.files+"/v1/files/"+got.Files[0].ID, nil, bearer(e.alice))
		} else if status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400 or 201", status)
		}
		e.eventuallyUnchanged(t, list, blobs)
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestAttackHostileFilenames: a name is metadata. Every blob stays a server-generated name
// inside the data folder; names are echoed byte for byte or refused with 400, and
// Content-Disposition stays one safe header line.
func TestAttackHostileFilenames(t *testing.T) {
	e := startUploadEnv(t)
	stored := []string{
		"..\\..\\windows\\win.ini", "C:\\boot.ini", "evil\u202egpj.exe", "CON", "NUL.txt", "com1", "LPT9.log", "aux.", strings.Repeat("n", 1000),
		"caf\u00e9.txt", "cafe\u0301.txt", "\"quoted\".txt", "semi;colon=1.txt", "%2e%2e%2fx", "<script>alert(1)</script>.html",
		"name with spaces ", "\u200b", "🦀.rs",
	}
	// A name may be a folder path: a "..", "." or empty folder (so a leading, trailing or
	// doubled "/") is refused outright.
	refused := []string{"../../../../etc/passwd", "/etc/shadow", "./.", "..", ".", "a/../../b", "a//b", "dir/",
		"a\x00b", "line\r\nSet-Cookie: x=1", "tab\there", "bell\a", "", strings.Repeat("x", 1025), "bad\xffutf8"}
	ids := map[string]string{}
	for _, name := range stored {
		r := e.raw(name, strings.NewReader("payload of "+name), nil)
		if r.Status != http.StatusCreated {
			t.Fatalf("name %q: %d %s", name, r.Status, r.Body)
		}
		var f fileJSON
		r.JSON(t, &f)
		if f.Name != name {
			t.Fatalf("name %q stored as %q", name, f.Name)
		}
		ids[name] = f.ID
	}
	if ids["caf\u00e9.txt"] == ids["cafe\u0301.txt"] {
		t.Fatal("NFC and NFD names collapsed into one file")
	}
	list, blobs := e.state(t)
	for _, name := range refused {
		r := e.raw(name, strings.NewReader("x"), nil)
		if r.Status != http.StatusBadRequest || r.problemCode(t) != "invalid_request" {
			t.Fatalf("name %q: %d %s, want 400 invalid_request", name, r.Status, r.Body)
		}
	}
	e.eventuallyUnchanged(t, list, blobs)

	// Nothing outside the data folder, and every file in it has a server-made name.
	blobName := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	n := 0
	filepath.WalkDir(e.dataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
			if !blobName.MatchString(d.Name()) {
				t.Errorf("unexpected file in the data folder: %s", p)
			}
		}
		return nil
	})
	if n != len(stored) {
		t.Fatalf("%d blobs for %d files", n, len(stored))
	}
	for _, p := range []string{"/etc/passwd.tmp", filepath.Join(filepath.Dir(e.dataDir), "etc")} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s exists", p)
		}
	}
	for name, id := range ids {
		r := e.c.do("GET", e.c.files+"/v1/files/"+id+"/content", nil, bearer(e.alice))
		if r.Status != http.StatusOK || string(r.Body) != "payload of "+name {
			t.Fatalf("download %q: %d %q", name, r.Status, r.Body)
		}
		assertSafeDisposition(t, r.Header.Get("Content-Disposition"), name)
	}
}

// TestAttackMultipartAbuse: thousands of parts, huge part headers and bad boundaries are
// refused with 400 or 413 and keep nothing.
func TestAttackMultipartAbuse(t *testing.T) {
	e := startUploadEnv(t)
	list, blobs := e.state(t)
	send := func(ct string, body string) response {
		return e.c.do("POST", e.c.files+"/v1/files", strings.NewReader(body), map[string]string{"Authorization": "Bearer " + e.alice, "Content-Type": ct})
	}
	var many strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&many, "--B\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nx\r\n", i)
	}
	many.WriteString("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B--\r\n")
	hugeHeader := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nX-Pad: " + strings.Repeat("p", 2<<20) + "\r\n\r\nhello\r\n--B--\r\n"
	manyHeaders := "--B\r\n" + strings.Repeat("X-A: b\r\n", 100000) + "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B--\r\n"
	good := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B--\r\n"
	for _, tc := range []struct{ name, ct, body string }{
		{"5000_parts", "multipart/form-data; boundary=B", many.String()},
		{"2MiB_part_header", "multipart/form-data; boundary=B", hugeHeader},
		{"100000_part_headers", "multipart/form-data; boundary=B", manyHeaders},
		{"no_boundary", "multipart/form-data", good},
		{"empty_boundary", "multipart/form-data; boundary=", good},
		{"boundary_too_long", "multipart/form-data; boundary=" + strings.Repeat("B", 71), good},
		{"boundary_mismatch", "multipart/form-data; boundary=C", good},
		{"no_closing_boundary", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx"},
		{"no_file_part", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--B--\r\n"},
		{"empty_body", "multipart/form-data; boundary=B", ""},
		{"garbage", "multipart/form-data; boundary=B", strings.Repeat("\x00\xff", 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code := http.StatusBadRequest, "invalid_request"
			if tc.name == "2MiB_part_header" { // the request is over the 1 MiB file limit
				status, code = http.StatusRequestEntityTooLarge, "file_too_large"
			}
			expectCleanProblem(t, tc.name, send(tc.ct, tc.body), status, code, e.alice)
			e.eventuallyUnchanged(t, list, blobs)
		})
	}
	if r := send("multipart/form-data; boundary=B", good); r.Status != http.StatusCreated {
		t.Fatalf("control: well-formed multipart = %d %s", r.Status, r.Body)
	}
}

// TestAttackDigestMismatch: a Content-Digest or Repr-Digest that does not match the body is
// 400 digest_mismatch and keeps nothing; a malformed one is 400 invalid_request.
func TestAttackDigestMismatch(t *testing.T) {
	e := startUploadEnv(t)
	list, blobs := e.state(t)
	body := []byte("the real body")
	sum := sha256.Sum256(body)
	other := sha256.Sum256([]byte("another body"))
	sf := func(b []byte) string { return "sha-256=:" + base64.StdEncoding.EncodeToString(b) + ":" }
	for _, tc := range []struct{ name, header, value, code string }{
		{"content_digest_wrong", "Content-Digest", sf(other[:]), "digest_mismatch"},
		{"repr_digest_wrong", "Repr-Digest", sf(other[:]), "digest_mismatch"},
		{"wrong_among_others", "Content-Digest", "sha-512=:" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + ":, " + sf(other[:]), "digest_mismatch"},
		{"hex_not_base64", "Content-Digest", "sha-256=:" + hex.EncodeToString(sum[:]) + ":", "invalid_request"},
		{"short", "Content-Digest", sf(sum[:16]), "invalid_request"},
		{"not_byte_sequence", "Content-Digest", "sha-256=" + base64.StdEncoding.EncodeToString(sum[:]), "invalid_request"},
		{"uppercase_key", "Content-Digest", "SHA-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":", "invalid_request"},
		{"twice", "Content-Digest", sf(sum[:]) + ", " + sf(sum[:]), "invalid_request"},
		{"garbage", "Repr-Digest", "@@@ not a dictionary", "invalid_request"},
		{"huge", "Content-Digest", strings.Repeat("a=:AAAA:,", 1000), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw("d.bin", bytes.NewReader(body), map[string]string{tc.header: tc.value})
			if r.Status != http.StatusBadRequest || r.problemCode(t) != tc.code {
				t.Fatalf("%s: %d %s, want 400 %s", tc.value, r.Status, r.Body, tc.code)
			}
			e.eventuallyUnchanged(t, list, blobs)
		})
	}
	for _, h := range []string{"Content-Digest", "Repr-Digest"} {
		if r := e.raw("d.bin", bytes.NewReader(body), map[string]string{h: sf(sum[:])}); r.Status != http.StatusCreated {
			t.Fatalf("control: correct %s = %d %s", h, r.Status, r.Body)
		}
	}
}

// TestAttackAbortedAndSlowUploads: a client that disconnects mid-upload leaves nothing; a
// client trickling bytes does not hold up anyone else, and leaves nothing when it goes.
func TestAttackAbortedAndSlowUploads(t *testing.T) {
	e := startUploadEnv(t)
	list, blobs := e.state(t)
	addr := e.s.Files[0].Addr
	head := "POST /v1/files?name=partial.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + e.alice +
		"\r\nContent-Type: application/octet-stream\r\nContent-Length: 900000\r\n\r\n"

	t.Run("abort", func(t *testing.T) {
		for range 5 {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(conn, head+strings.Repeat("a", 300000))
			conn.Close()
		}
		e.eventuallyUnchanged(t, list, blobs)
	})
	t.Run("slowloris", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var conns []net.Conn
		for range 8 {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
			io.WriteString(conn, head)
		}
		go func() { // a byte per connection every 20ms
			defer close(done)
			for ctx.Err() == nil {
				for _, c := range conns {
					c.Write([]byte("s"))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		// Meanwhile everyone else is served.
		for i := range 20 {
			f := e.c.upload(e.alice, fmt.Sprintf("fast-%d", i), []byte("quick"))
			if r := e.c.do("GET", e.c.files+"/v1/files/"+f.ID+"/content", nil, bearer(e.alice)); r.Status != http.StatusOK {
				t.Fatalf("download during slowloris: %d", r.Status)
			}
			e.c.do("DELETE", e.c.files+"/v1/files/"+f.ID, nil, bearer(e.alice))
		}
		cancel()
		<-done
		for _, c := range conns {
			c.Close()
		}
		e.eventuallyUnchanged(t, list, blobs)
	})
}

// TestAttackZeroByteFile: an empty file uploads, lists, downloads and ranges correctly.
func TestAttackZeroByteFile(t *testing.T) {
	e := startUploadEnv(t)
	empty := sha256.Sum256(nil)
	for _, mp := range []bool{false, true} {
		var f fileJSON
		if mp {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			mw.CreateFormFile("file", "empty-mp.txt")
			mw.Close()
			r := e.c.do("POST", e.c.files+"/v1/files", &body, map[string]string{"Authorization": "Bearer " + e.alice, "Content-Type": mw.FormDataContentType()})
			if r.Status != http.StatusCreated {
				t.Fatalf("multipart empty: %d %s", r.Status, r.Body)
			}
			r.JSON(t, &f)
		} else {
			f = e.c.upload(e.alice, "empty.txt", nil)
		}
		if f.Size != 0 || f.SHA256 != hex.EncodeToString(empty[:]) {
			t.Fatalf("empty file metadata %+v", f)
		}
		r := e.c.do("GET", e.c.files+"/v1/files/"+f.ID+"/content", nil, bearer(e.alice))
		if r.Status != http.StatusOK || len(r.Body) != 0 || r.Header.Get("Content-Length") != "0" {
			t.Fatalf("download empty: %d, %d bytes, Content-Length %q", r.Status, len(r.Body), r.Header.Get("Content-Length"))
		}
		// Nothing of an empty file is satisfiable: 416, or the (empty) whole file.
		r = e.c.do("GET", e.c.files+"/v1/files/"+f.ID+"/content", nil, map[string]string{"Authorization": "Bearer " + e.alice, "Range": "bytes=0-0"})
		if !(r.Status == http.StatusRequestedRangeNotSatisfiable && r.Header.Get("Content-Range") == "bytes */0") && !(r.Status == 200 && len(r.Body) == 0) {
			t.Fatalf("range on empty: %d, Content-Range %q", r.Status, r.Header.Get("Content-Range"))
		}
	}
}
