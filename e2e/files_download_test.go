package e2e_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
)

// TestDownloadHTTPFeatures: HEAD, single, suffix and multiple ranges, 416 with bytes */N,
// many overlapping or tiny ranges bounded, If-Range, If-None-Match and If-Modified-Since,
// and the safety headers (attachment, nosniff, CSP sandbox).
func TestDownloadHTTPFeatures(t *testing.T) {
	s, _ := filesStack(t, nil)
	c := s.client()
	alice := c.newUser("alice", "")
	data := make([]byte, 1000)
	rand.Read(data)
	f := c.upload(alice.Token, "page.html", data)
	url := c.files + "/v1/files/" + f.ID + "/content"
	get := func(method string, h map[string]string) response {
		t.Helper()
		return c.do(method, url, nil, with(alice.Token, h))
	}

	full := get("GET", nil)
	etag := full.Header.Get("ETag")
	lastMod := full.Header.Get("Last-Modified")
	if full.Status != 200 || !bytes.Equal(full.Body, data) || etag == "" || strings.HasPrefix(etag, "W/") || lastMod == "" {
		t.Fatalf("GET: %d, equal %v, ETag %q, Last-Modified %q", full.Status, bytes.Equal(full.Body, data), etag, lastMod)
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox; default-src 'none'",
		"Accept-Ranges":           "bytes",
		"Content-Length":          "1000",
	} {
		if got := full.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if cd := full.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Disposition = %q, want attachment", cd)
	}
	// The access log counts the body that went out with sendfile (it used to log 0).
	waitFor(t, 10*time.Second, "an access-log line with the download's 1000 bytes", func() bool {
		return harness.HasLine(s.Files[0].Logs(), `"path":"/v1/files/`+f.ID+`/content"`, `"status":200`, `"bytes":1000,`)
	})

	// Active content (HTML, SVG) is only ever an attachment in a sandbox, never sniffed.
	for ct, body := range map[string]string{"text/html": "<script>alert(1)</script>", "image/svg+xml": `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`} {
		r := c.do("POST", c.files+"/v1/files?name=active", strings.NewReader(body), with(alice.Token, map[string]string{"Content-Type": ct}))
		var af fileJSON
		r.JSON(t, &af)
		r = c.do("GET", c.files+"/v1/files/"+af.ID+"/content", nil, bearer(alice.Token))
		if !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") || !strings.HasPrefix(r.Header.Get("Content-Security-Policy"), "sandbox") ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s served with Content-Disposition %q, CSP %q, X-Content-Type-Options %q", ct, r.Header.Get("Content-Disposition"),
				r.Header.Get("Content-Security-Policy"), r.Header.Get("X-Content-Type-Options"))
		}
	}

	head := get("HEAD", nil)
	if head.Status != 200 || len(head.Body) != 0 || head.Header.Get("Content-Length") != "1000" || head.Header.Get("ETag") != etag {
		t.Fatalf("HEAD: %d, %d body bytes, Content-Length %q, ETag %q", head.Status, len(head.Body), head.Header.Get("Content-Length"), head.Header.Get("ETag"))
	}

	for _, tc := range []struct {
		rng, contentRange string
		want              []byte
	}{
		{"bytes=0-9", "bytes 0-9/1000", data[:10]},
		{"bytes=990-", "bytes 990-999/1000", data[990:]},
		{"bytes=-5", "bytes 995-999/1000", data[995:]},
		{"bytes=500-5000", "bytes 500-999/1000", data[500:]},
	} {
		r := get("GET", map[string]string{"Range": tc.rng})
		if r.Status != http.StatusPartialContent || r.Header.Get("Content-Range") != tc.contentRange || !bytes.Equal(r.Body, tc.want) {
			t.Errorf("Range %s: %d, Content-Range %q, body equal %v", tc.rng, r.Status, r.Header.Get("Content-Range"), bytes.Equal(r.Body, tc.want))
		}
	}

	// Multiple ranges: multipart/byteranges with each part's bytes.
	r := get("GET", map[string]string{"Range": "bytes=0-1,10-12,-2"})
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Status != http.StatusPartialContent || mt != "multipart/byteranges" {
		t.Fatalf("multi-range: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for _, want := range [][]byte{data[0:2], data[10:13], data[998:]} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("multi-range part: %v", err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, want) {
			t.Fatalf("multi-range part %q = %x, want %x", p.Header.Get("Content-Range"), got, want)
		}
	}

	// Past the end: 416 with the size.
	for _, rng := range []string{"bytes=1000-", "bytes=5000-6000"} {
		r := get("GET", map[string]string{"Range": rng})
		if r.Status != http.StatusRequestedRangeNotSatisfiable || r.Header.Get("Content-Range") != "bytes */1000" {
			t.Errorf("Range %s: %d, Content-Range %q; want 416 bytes */1000", rng, r.Status, r.Header.Get("Content-Range"))
		}
	}

	// Hundreds of overlapping ranges, or of one-byte ranges: the answer is never much
	// bigger than the file.
	var overlap, tiny []string
	for i := range 300 {
		overlap = append(overlap, "0-999")
		tiny = append(tiny, fmt.Sprintf("%d-%d", i*3, i*3))
	}
	for name, rng := range map[string]string{"overlapping": strings.Join(overlap, ","), "tiny": strings.Join(tiny, ",")} {
		start := time.Now()
		r := get("GET", map[string]string{"Range": "bytes=" + rng})
		if r.Status >= 500 || len(r.Body) > 2*len(data) {
			t.Errorf("%d %s ranges: %d with %d bytes, want at most %d (%v)", 300, name, r.Status, len(r.Body), 2*len(data), time.Since(start))
		}
	}

	// Conditional requests.
	if r := get("GET", map[string]string{"If-None-Match": etag}); r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Errorf("If-None-Match current: %d, want 304", r.Status)
	}
	if r := get("GET", map[string]string{"If-None-Match": `"stale"`}); r.Status != http.StatusOK {
		t.Errorf("If-None-Match stale: %d, want 200", r.Status)
	}
	if r := get("GET", map[string]string{"If-Modified-Since": lastMod}); r.Status != http.StatusNotModified {
		t.Errorf("If-Modified-Since Last-Modified: %d, want 304", r.Status)
	}
	if r := get("GET", map[string]string{"Range": "bytes=0-9", "If-Range": etag}); r.Status != http.StatusPartialContent || len(r.Body) != 10 {
		t.Errorf("If-Range current: %d with %d bytes, want 206 with 10", r.Status, len(r.Body))
	}
	if r := get("GET", map[string]string{"Range": "bytes=0-9", "If-Range": `"0000"`}); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
		t.Errorf("If-Range stale: %d with %d bytes, want the full 200", r.Status, len(r.Body))
	}
}

// TestHostileFilenames: names with path tricks, quotes, separators, bidi overrides, device
// names and odd normalisation are stored as metadata only, echoed exactly, and sent in a
// safe Content-Disposition; names with control characters are refused; no name ever reaches
// the file system.
func TestHostileFilenames(t *testing.T) {
	s, dir := filesStack(t, nil)
	c := s.client()
	alice := c.newUser("alice", "")
	names := []string{
		`..\..\windows\win.ini`, "CON", "NUL.txt", "aux",
		`quote" ; filename=evil.exe`, "semi;colon.txt", "report\u202Efdp.exe", "caf\u00e9.txt",
		"cafe\u0301.txt", "名前.txt", strings.Repeat("a", 1000), "%2e%2e%2fetc",
	}
	ids := map[string]string{}
	for _, name := range names {
		r := c.do("POST", c.files+"/v1/files?name="+url.QueryEscape(name), strings.NewReader("x"), bearer(alice.Token))
		if r.Status != http.StatusCreated {
			t.Fatalf("upload %q: %d %s", name, r.Status, r.Body)
		}
		var f fileJSON
		r.JSON(t, &f)
		if f.Name != name {
			t.Fatalf("stored name %q, want %q", f.Name, name)
		}
		ids[name] = f.ID
		r = c.do("GET", c.files+"/v1/files/"+f.ID+"/content", nil, bearer(alice.Token))
		cd := r.Header.Get("Content-Disposition")
		_, params, err := mime.ParseMediaType(cd)
		if err != nil || params["filename"] != name {
			// mime decodes filename* into filename when it is present and valid.
			t.Fatalf("Content-Disposition %q for %q: decoded %q, %v", cd, name, params["filename"], err)
		}
		m := regexp.MustCompile(`^attachment; filename="([^"]*)"`).FindStringSubmatch(cd)
		if m == nil {
			t.Fatalf("Content-Disposition %q has no quoted fallback first", cd)
		}
		fallback := m[1]
		if strings.ContainsAny(fallback, "/\\\"\r\n;") || fallback == "" || fallback == "." || fallback == ".." {
			t.Errorf("unsafe filename fallback %q for %q", fallback, name)
		}
		if !strings.Contains(cd, "filename*=UTF-8''") || !strings.Contains(cd, "filename*=UTF-8''"+rfc8187(name)) {
			t.Errorf("filename* in %q does not carry %q exactly", cd, name)
		}
	}
	// Both normalisation forms are kept apart, as sent.
	if ids["caf\u00e9.txt"] == ids["cafe\u0301.txt"] {
		t.Fatal("NFC and NFD names collapsed")
	}
	for _, bad := range []string{"nul\x00byte", "cr\rlf\n", "tab\tname", strings.Repeat("b", 1025)} {
		r := c.do("POST", c.files+"/v1/files?name="+url.QueryEscape(bad), strings.NewReader("x"), bearer(alice.Token))
		expectProblem(t, fmt.Sprintf("name %q", bad), r, http.StatusBadRequest, "invalid_request")
	}
	// On disk: only server-chosen names, all inside the data folder.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			for _, name := range names {
				if len(name) > 2 && strings.Contains(p, name) {
					t.Errorf("file system path %q contains the client name %q", p, name)
				}
			}
		}
		return nil
	})
	for _, p := range []string{"/etc/passwd.x", filepath.Join(dir, "..", "passwd")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists", p)
		}
	}
}

func rfc8187(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("!#$&+-.^_`|~", ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", ch)
	}
	return b.String()
}

// TestRouteTraversal: encoded slashes, dot segments, double encoding and malformed ids never
// reach another route or a path: 400 or 404, never 5xx, never the file.
func TestRouteTraversal(t *testing.T) {
	s, _ := filesStack(t, nil)
	c := s.client()
	alice := c.newUser("alice", "")
	f := c.upload(alice.Token, "secret.txt", []byte("secret"))
	paths := []string{
		"/v1/files/..%2f..%2fetc%2fpasswd/content",
		"/v1/files/%2e%2e/content",
		"/v1/files/%252e%252e%252f" + f.ID + "/content",
		"/v1/files/" + f.ID + "%2fcontent",
		"/v1/files/" + f.ID + "/../" + f.ID + "/content",
		"/v1/files/./" + f.ID + "/content",
		"/v1/files/not-a-uuid/content",
		"/v1/files/" + strings.ToUpper(f.ID) + "x/content",
		"/v1/files/{" + f.ID + "}/content",
		"/v1/files/" + strings.ReplaceAll(f.ID, "-", "") + "/content",
		"/v1/files/%00/content",
		"/v1/files/" + f.ID + "/content/..",
		"/v1/links/..%2fv1%2ffiles",
	}
	for _, p := range paths {
		req := "GET " + p + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice.Token + "\r\nConnection: close\r\n\r\n"
		code, _ := rawHTTP(t, s.Files[0].Addr, req)
		if code != http.StatusBadRequest && code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 400 or 404", p, code)
		}
	}
}
