package e2e_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Section F of SECURITY.md: downloads.

// assertSafeDisposition checks a Content-Disposition is one attachment line whose ASCII
// filename is harmless and whose filename* carries the exact name.
func assertSafeDisposition(t testing.TB, cd, name string) {
	t.Helper()
	if strings.ContainsAny(cd, "\r\n\x00") {
		t.Fatalf("Content-Disposition %q holds CR, LF or NUL", cd)
	}
	disp, params, err := mime.ParseMediaType(cd)
	if err != nil || disp != "attachment" {
		t.Fatalf("Content-Disposition %q: %v, disposition %q", cd, err, disp)
	}
	_, fallback, _ := strings.Cut(cd, `filename="`)
	fallback, _, _ = strings.Cut(fallback, `"`)
	if strings.ContainsAny(fallback, "/\\\"%;:") || strings.HasPrefix(fallback, ".") || fallback == "" {
		t.Fatalf("fallback filename %q of %q is unsafe", fallback, name)
	}
	// mime.ParseMediaType decodes filename* (RFC 2231/8187) into filename.
	if params["filename"] != name {
		t.Fatalf("Content-Disposition %q decodes to %q, want %q", cd, params["filename"], name)
	}
}

// TestAttackDownloadHeaders: names with quotes, semicolons, backslashes and non-ASCII get a
// safe attachment header; HTML and SVG come back as attachments that cannot run script.
func TestAttackDownloadHeaders(t *testing.T) {
	e := startUploadEnv(t)
	for _, name := range []string{`say "hi".txt`, `a;b=c.txt`, `back\slash.txt`, "日本語.pdf", "naïve résumé.doc", `x"; filename="evil.exe`, "%0d%0aX: y", "&name=other"} {
		r := e.raw(name, strings.NewReader("x"), nil)
		var f fileJSON
		r.JSON(t, &f)
		if f.Name != name {
			t.Fatalf("uploaded %q, stored %q", name, f.Name)
		}
		r = e.c.do("GET", e.c.files+"/v1/files/"+f.ID+"/content", nil, bearer(e.alice))
		assertSafeDisposition(t, r.Header.Get("Content-Disposition"), name)
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%q: X-Content-Type-Options %q", name, r.Header.Get("X-Content-Type-Options"))
		}
	}
	for _, tc := range []struct{ name, ct, body string }{
		{"page.html", "text/html", "<html><script>alert(document.cookie)</script></html>"},
		{"image.svg", "image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`},
		{"sniff.txt", "application/octet-stream", "<html><script>alert(1)</script>"},
		{"x.xhtml", "application/xhtml+xml", `<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>`},
	} {
		r := e.raw(tc.name, strings.NewReader(tc.body), map[string]string{"Content-Type": tc.ct})
		var f fileJSON
		r.JSON(t, &f)
		r = e.c.do("GET", e.c.files+"/v1/files/"+f.ID+"/content", nil, bearer(e.alice))
		h := r.Header
		if !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
			t.Fatalf("%s served as possibly active content: %v", tc.name, h)
		}
	}
}

// TestAttackRanges: single, suffix, multiple, past EOF (416 bytes */N), hundreds of
// overlapping ranges (bounded), If-Range with a stale ETag, strong ETag, If-None-Match.
func TestAttackRanges(t *testing.T) {
	e := startUploadEnv(t)
	data := make([]byte, 10000)
	rand.Read(data)
	f := e.c.upload(e.alice, "r.bin", data)
	url := e.c.files + "/v1/files/" + f.ID + "/content"
	get := func(h map[string]string) response {
		hh := map[string]string{"Authorization": "Bearer " + e.alice}
		for k, v := range h {
			hh[k] = v
		}
		return e.c.do("GET", url, nil, hh)
	}
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	if r := get(nil); r.Header.Get("ETag") != etag || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("ETag %q (want %s), Accept-Ranges %q", r.Header.Get("ETag"), etag, r.Header.Get("Accept-Ranges"))
	}
	// status 0 means "200 with the whole file, or 416": RFC 9110 lets a server ignore a
	// Range it cannot parse, and net/http refuses it instead; both are safe.
	for _, tc := range []struct {
		name, rng string
		status    int
		body      []byte
		cr        string
	}{
		{"single", "bytes=10-19", 206, data[10:20], "bytes 10-19/10000"},
		{"open_ended", "bytes=9990-", 206, data[9990:], "bytes 9990-9999/10000"},
		{"suffix", "bytes=-5", 206, data[9995:], "bytes 9995-9999/10000"},
		{"suffix_longer_than_file", "bytes=-20000", 206, data, "bytes 0-9999/10000"},
		{"end_past_eof_clamped", "bytes=9998-20000", 206, data[9998:], "bytes 9998-9999/10000"},
		{"start_at_eof", "bytes=10000-", 416, nil, "bytes */10000"},
		{"start_past_eof", "bytes=20000-30000", 416, nil, "bytes */10000"},
		{"all_past_eof", "bytes=10000-10001,20000-", 416, nil, "bytes */10000"},
		{"suffix_zero", "bytes=-0", 416, nil, "bytes */10000"},
		{"huge_numbers", "bytes=99999999999999999999-", 0, nil, ""},
		{"inverted", "bytes=50-10", 0, nil, ""},
		{"negative", "bytes=-5-10", 0, nil, ""},
		{"garbage_unit", "items=0-1", 0, nil, ""},
		{"garbage_spec", "bytes=a-b", 0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(map[string]string{"Range": tc.rng})
			if tc.status == 0 {
				if !(r.Status == 200 && bytes.Equal(r.Body, data)) && r.Status != 416 {
					t.Fatalf("Range %s: %d with %d bytes, want 200 with the file, or 416", tc.rng, r.Status, len(r.Body))
				}
				return
			}
			if r.Status != tc.status || r.Header.Get("Content-Range") != tc.cr {
				t.Fatalf("Range %s: %d Content-Range %q, want %d %q", tc.rng, r.Status, r.Header.Get("Content-Range"), tc.status, tc.cr)
			}
			if tc.body != nil && !bytes.Equal(r.Body, tc.body) {
				t.Fatalf("Range %s: wrong bytes", tc.rng)
			}
		})
	}
	t.Run("multiple", func(t *testing.T) {
		r := get(map[string]string{"Range": "bytes=0-1,100-101"})
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if r.Status != 206 || !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/byteranges") || params["boundary"] == "" {
			t.Fatalf("multiple ranges: %d %q", r.Status, r.Header.Get("Content-Type"))
		}
		if !bytes.Contains(r.Body, data[0:2]) || !bytes.Contains(r.Body, data[100:102]) {
			t.Fatal("multiple ranges: parts missing")
		}
	})
	t.Run("hundreds_overlapping", func(t *testing.T) {
		var specs []string
		for i := range 500 {
			specs = append(specs, fmt.Sprintf("%d-%d", i, 9999))
		}
		r := get(map[string]string{"Range": "bytes=" + strings.Join(specs, ",")})
		if r.Status >= 500 || len(r.Body) > 2*len(data) {
			t.Fatalf("500 overlapping ranges: %d with %d bytes for a %d-byte file", r.Status, len(r.Body), len(data))
		}
	})
	t.Run("if_range_stale", func(t *testing.T) {
		r := get(map[string]string{"Range": "bytes=0-9", "If-Range": `"0000"`})
		if r.Status != 200 || !bytes.Equal(r.Body, data) {
			t.Fatalf("stale If-Range: %d, %d bytes, want 200 full", r.Status, len(r.Body))
		}
		r = get(map[string]string{"Range": "bytes=0-9", "If-Range": etag})
		if r.Status != 206 || !bytes.Equal(r.Body, data[:10]) {
			t.Fatalf("current If-Range: %d", r.Status)
		}
	})
	t.Run("if_none_match", func(t *testing.T) {
		if r := get(map[string]string{"If-None-Match": etag}); r.Status != http.StatusNotModified || len(r.Body) != 0 {
			t.Fatalf("If-None-Match current: %d", r.Status)
		}
		if r := get(map[string]string{"If-None-Match": `"other"`}); r.Status != 200 {
			t.Fatalf("If-None-Match other: %d", r.Status)
		}
	})
}

// TestAttackRouteTraversal: encoded slashes, dot segments, double encoding and non-UUID ids
// are 400 or 404, never a file and never a 5xx.
func TestAttackRouteTraversal(t *testing.T) {
	e := startUploadEnv(t)
	f := e.c.upload(e.alice, "t.txt", []byte("target"))
	list, blobs := e.state(t)
	addr := e.s.Files[0].Addr
	for _, p := range []string{
		"/v1/files/..%2f..%2f..%2fetc%2fpasswd/content",
		"/v1/files/../../../etc/passwd",
		"/v1/files/%2e%2e/%2e%2e/etc/passwd/content",
		"/v1/files/%252e%252e%252fetc%252fpasswd/content",
		"/v1/files/..%5c..%5cwindows/content",
		"/v1/files/" + f.ID + "%2f..%2f/content",
		"/v1/files/" + f.ID + "/../" + f.ID + "/content",
		"/v1/files/" + strings.ToUpper(f.ID) + "x/content",
		"/v1/files/" + f.ID[:35] + "/content",
		"/v1/files/" + f.ID + "%00/content",
		"/v1/files/not-a-uuid/content",
		"/v1/files/0/content",
		"/v1/files/%00",
		"/v1/files/" + strings.Repeat("a", 5000),
		"/v1/files//content",
		"//v1/files/" + f.ID + "/content",
		"/v1/files/" + f.ID + "/content/..",
	} {
		for _, m := range []string{"GET", "DELETE"} {
			status, body := rawHTTP(t, addr, m+" "+p+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.alice+"\r\nConnection: close\r\n\r\n")
			var pb struct{ Code string }
			json.Unmarshal([]byte(body), &pb)
			// Never a route: 404 not_found; a DELETE on a path shaped like /content (which has
			// no DELETE) may be 405 method_not_allowed.
			// A NUL character never reaches a lookup: 400 invalid_request at the edge.
			ok := status == http.StatusNotFound && pb.Code == "not_found" ||
				m == "DELETE" && status == http.StatusMethodNotAllowed && pb.Code == "method_not_allowed" ||
				strings.Contains(p, "%00") && status == http.StatusBadRequest && pb.Code == "invalid_request"
			if !ok {
				t.Errorf("%s %.80s: %d %q, want 404 not_found", m, p, status, pb.Code)
			}
			if strings.Contains(body, "target") || strings.Contains(body, "root:") {
				t.Errorf("%s %.80s served file bytes: %.100s", m, p, body)
			}
			assertCleanBody(t, m+" "+p, []byte(body), e.alice)
		}
	}
	e.eventuallyUnchanged(t, list, blobs)
	if r := e.c.do("GET", e.c.files+"/v1/files/"+f.ID+"/content", nil, bearer(e.alice)); r.Status != http.StatusOK || string(r.Body) != "target" {
		t.Fatalf("the target after the traversal attempts: %d %q", r.Status, r.Body)
	}
}

// TestAttackReadDuringDelete: downloads racing a delete see the whole file or 404, never a
// torn body.
func TestAttackReadDuringDelete(t *testing.T) {
	e := startUploadEnv(t)
	data := make([]byte, 900<<10)
	rand.Read(data)
	for round := range 5 {
		f := e.c.upload(e.alice, fmt.Sprintf("race-%d.bin", round), data)
		var wg sync.WaitGroup
		errs := make(chan string, 100)
		start := make(chan struct{})
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 5 {
					req, _ := http.NewRequest("GET", e.c.files+"/v1/files/"+f.ID+"/content", nil)
					req.Header.Set("Authorization", "Bearer "+e.alice)
					resp, err := e.c.http.Do(req)
					if err != nil {
						errs <- err.Error()
						return
					}
					var b bytes.Buffer
					_, rerr := b.ReadFrom(resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == 404:
					case resp.StatusCode == 200 && rerr == nil && bytes.Equal(b.Bytes(), data):
					default:
						errs <- fmt.Sprintf("status %d, %d bytes, read error %v", resp.StatusCode, b.Len(), rerr)
					}
				}
			}()
		}
		close(start)
		if r := e.c.do("DELETE", e.c.files+"/v1/files/"+f.ID, nil, bearer(e.alice)); r.Status != 204 {
			t.Fatalf("delete: %d", r.Status)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("read during delete: %s", err)
		}
	}
}
