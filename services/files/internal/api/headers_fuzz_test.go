package api

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// FuzzContentDisposition: for any name the header is one line (no CR, LF or NUL), the
// fallback filename holds no quote, backslash or path character, the whole value parses, and
// filename* decodes back to the exact name when the name is valid UTF-8.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"report.pdf", `a"b`, "a\r\nSet-Cookie: x", "../../etc/passwd", "日本語.txt", "\x00", "%41", "a;b=c", "..", " ", "\xff\xfe", "\u202egpj.exe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		cd := contentDisposition(name)
		if strings.ContainsAny(cd, "\r\n\x00") {
			t.Fatalf("contentDisposition(%q) = %q holds CR, LF or NUL", name, cd)
		}
		for i := 0; i < len(cd); i++ {
			if cd[i] < 0x20 || cd[i] >= 0x7f {
				t.Fatalf("contentDisposition(%q) = %q holds a non-printable byte", name, cd)
			}
		}
		rest, ok := strings.CutPrefix(cd, `attachment; filename="`)
		if !ok {
			t.Fatalf("contentDisposition(%q) = %q", name, cd)
		}
		fallback, tail, ok := strings.Cut(rest, `"`)
		if !ok || strings.ContainsAny(fallback, `\/"%;:*?<>|`) || fallback == "" {
			t.Fatalf("contentDisposition(%q): unsafe fallback %q", name, fallback)
		}
		disp, params, err := mime.ParseMediaType(cd)
		if err != nil || disp != "attachment" {
			t.Fatalf("contentDisposition(%q) = %q does not parse: %v", name, cd, err)
		}
		if utf8.ValidString(name) {
			enc, ok := strings.CutPrefix(tail, "; filename*=UTF-8''")
			if !ok {
				t.Fatalf("contentDisposition(%q) = %q has no filename*", name, cd)
			}
			dec, err := url.PathUnescape(enc)
			if err != nil || dec != name {
				t.Fatalf("filename* of %q decodes to %q (%v)", name, dec, err)
			}
			if params["filename"] != name {
				t.Fatalf("mime.ParseMediaType reads %q, want %q", params["filename"], name)
			}
		}
	})
}

// FuzzServeRanges drives serveBlob, the real download path, with any Range and If-Range over
// a small file: the answer is 200 with the whole file, 206 with exactly the bytes its
// Content-Range names (or a multipart/byteranges of such parts), or 416 — never anything else,
// and never a Content-Range outside the file.
func FuzzServeRanges(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=-0", "bytes=5-", "bytes=0-1,3-4", "bytes=100-", "bytes=9-3", "bytes=a-b", "items=0-1", "bytes=0-0,-1", strings.Repeat("bytes=0-1,", 50)} {
		f.Add(s, "", uint8(37))
	}
	f.Add("bytes=0-3", `"stale"`, uint8(37))
	f.Add("bytes=-0", "", uint8(0))
	f.Fuzz(func(t *testing.T, rng, ifRange string, size uint8) {
		if !validHeader(rng) || !validHeader(ifRange) {
			return // net/http never delivers such a header
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = byte('a' + i%26)
		}
		sum := sha256.Sum256(data)
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest("GET", "/v1/files/x/content", nil)
		c.Request.Header.Set("Range", rng)
		if ifRange != "" {
			c.Request.Header.Set("If-Range", ifRange)
		}
		serveBlob(c, files.File{Name: "f.bin", Size: int64(size), SHA256: sum[:], ContentType: "application/octet-stream", CreatedAt: time.Unix(1e9, 0)},
			nopCloser{bytes.NewReader(data)}, "private, no-cache")
		body := w.Body.Bytes()
		cr := w.Header().Get("Content-Range")
		switch w.Code {
		case http.StatusOK:
			if !bytes.Equal(body, data) {
				t.Fatalf("Range %q: 200 with %d bytes of %d", rng, len(body), size)
			}
		case http.StatusPartialContent:
			ct, params, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
			if ct == "multipart/byteranges" {
				mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				for {
					p, err := mr.NextPart()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("Range %q: bad multipart: %v", rng, err)
					}
					b, _ := io.ReadAll(p)
					checkPart(t, rng, p.Header.Get("Content-Range"), b, data)
				}
				return
			}
			checkPart(t, rng, cr, body, data)
		case http.StatusRequestedRangeNotSatisfiable:
			if cr != "" && cr != "bytes */"+strconv.Itoa(int(size)) {
				t.Fatalf("Range %q: 416 with Content-Range %q", rng, cr)
			}
		default:
			t.Fatalf("Range %q If-Range %q: status %d", rng, ifRange, w.Code)
		}
	})
}

func validHeader(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 && s[i] != '\t' || s[i] == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(s) == s
}

// checkPart verifies one "bytes a-b/N" part is inside the file and carries exactly those bytes.
func checkPart(t *testing.T, rng, cr string, got, data []byte) {
	t.Helper()
	var a, b, n int
	if _, err := fmtSscanf(cr, &a, &b, &n); err != nil || a < 0 || a > b || b >= len(data) || n != len(data) {
		t.Fatalf("Range %q: Content-Range %q for a %d-byte file", rng, cr, len(data))
	}
	if !bytes.Equal(got, data[a:b+1]) {
		t.Fatalf("Range %q: Content-Range %q but other bytes", rng, cr)
	}
}

// FuzzFilePart: any multipart body and boundary either yields the "file" part or an
// ErrInvalidInput (or the size limit's error), never a panic and never another part.
func FuzzFilePart(f *testing.F) {
	good := "--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n"
	f.Add([]byte(good), "B")
	f.Add([]byte(good), "C")
	f.Add([]byte(good), "")
	f.Add([]byte("--B\r\n\r\n--B--"), "B")
	f.Add([]byte(strings.Repeat("--B\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nx\r\n", 20)+"--B--\r\n"), "B")
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../x\"\r\n\r\nhi\r\n--B--"), "B")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/files", bytes.NewReader(body))
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		part, err := filePart(r, boundary)
		if err != nil {
			var mb *http.MaxBytesError
			if !errors.Is(err, files.ErrInvalidInput) && !errors.As(err, &mb) {
				t.Fatalf("filePart error %v is neither ErrInvalidInput nor the size limit", err)
			}
			return
		}
		if part.FormName() != "file" {
			t.Fatalf("filePart returned part %q", part.FormName())
		}
		io.Copy(io.Discard, io.LimitReader(part, 2<<20))
	})
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

func fmtSscanf(s string, a, b, n *int) (int, error) { return fmt.Sscanf(s, "bytes %d-%d/%d", a, b, n) }
