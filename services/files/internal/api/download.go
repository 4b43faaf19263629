package api

import (
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/digest"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

func (s *Server) handleContent() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil {
			s.error(c, err)
			return
		}
		if s.opts.Redirect != nil && c.Request.Method == http.MethodGet {
			s.redirectContent(c, id) // redirect.go
			return
		}
		f, blob, err := s.files.Open(c.Request.Context(), owner(c), id)
		if err != nil {
			s.error(c, err)
			return
		}
		defer blob.Close()
		serveBlob(c, f, blob, "private, no-cache")
		via := "owner"
		if f.OwnerID != owner(c) {
			via = "share"
		}
		s.recordDownload(c, f, via, nil)
	}
}

// Bounds on the Range header a download honours.
const (
	maxRanges      = 64
	maxRangeHeader = 4096
)

// serveBlob sends a file's bytes with the headers a download needs. http.ServeContent does
// HEAD, single, suffix and multiple ranges, If-Range, If-None-Match, If-Modified-Since and 416.
func serveBlob(c *gin.Context, f files.File, blob files.Blob, cacheControl string) {
	h := c.Writer.Header()
	// One backing array for the seven values (Header.Set allocates a slice for each); each
	// value's slice is capped at one, so no append can reach its neighbour.
	v := [...]string{f.ContentType, etag(f.SHA256), digest.Format(f.SHA256), contentDisposition(f.Name), "nosniff",
		// Uploaded HTML or SVG opened directly still cannot run script or reach the origin.
		"sandbox; default-src 'none'", cacheControl}
	vs := v[:]
	for i, k := range [...]string{"Content-Type", "Etag", "Repr-Digest", "Content-Disposition", "X-Content-Type-Options",
		"Content-Security-Policy", "Cache-Control"} {
		h[k] = vs[i : i+1 : i+1] // keys in canonical form, as Set would write them
	}
	// net/http ignores a Range whose parts add up to more than the file, but not one of
	// thousands of tiny parts, each of which costs a multipart header: past maxRanges the
	// whole file is sent instead, as RFC 9110 section 14.2 allows.
	if rg := c.Request.Header.Get("Range"); len(rg) > maxRangeHeader || strings.Count(rg, ",") >= maxRanges {
		c.Request.Header.Del("Range")
	} else if rg != "" {
		c.Request.Header.Set("Range", normalizeRange(rg, f.Size))
	}
	var content io.ReadSeeker = blob
	if file, ok := blob.(*os.File); ok {
		content = &sizedFile{File: file, size: f.Size}
	}
	plain := c.Request.TLS == nil && c.Request.ProtoMajor == 1
	http.ServeContent(sendfileWriter{ResponseWriter: c.Writer, plain: plain}, c.Request, "", f.CreatedAt, content)
}

// sizedFile answers http.ServeContent's two seeks that find a file's size (to the end and
// back to the start) from the size the metadata row holds, without a syscall each; every
// other seek is the file's own. Blobs never change once written, and the upload recorded
// the size it wrote. It still is an *os.File underneath (syscall.Conn), so the body goes out
// with sendfile(2).
type sizedFile struct {
	*os.File
	size  int64
	moved bool // the real offset may no longer be 0
}

func (s *sizedFile) Seek(offset int64, whence int) (int64, error) {
	switch {
	case offset == 0 && whence == io.SeekEnd && !s.moved:
		return s.size, nil // answered, not done: the real offset stays 0
	case offset == 0 && whence == io.SeekStart && !s.moved:
		return 0, nil
	}
	s.moved = true
	return s.File.Seek(offset, whence)
}

func (s *sizedFile) Read(p []byte) (int, error) {
	s.moved = true
	return s.File.Read(p)
}

func (s *sizedFile) WriteTo(w io.Writer) (int64, error) {
	s.moved = true
	return s.File.WriteTo(w)
}
