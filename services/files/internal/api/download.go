package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

func (s *Server) handleContent() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil {
			s.error(c, err)
			return
		}
		f, blob, err := s.files.Open(c.Request.Context(), owner(c), id)
		if err != nil {
			s.error(c, err)
			return
		}
		defer blob.Close()
		serveBlob(c, f, blob, "private, no-cache")
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
	h.Set("Content-Type", f.ContentType)
	h.Set("ETag", etag(f.SHA256))
	h.Set("Repr-Digest", formatDigest(f.SHA256))
	h.Set("Content-Disposition", contentDisposition(f.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	// Uploaded HTML or SVG opened directly still cannot run script or reach the origin.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", cacheControl)
	// net/http ignores a Range whose parts add up to more than the file, but not one of
	// thousands of tiny parts, each of which costs a multipart header: past maxRanges the
	// whole file is sent instead, as RFC 9110 section 14.2 allows.
	if rg := c.Request.Header.Get("Range"); len(rg) > maxRangeHeader || strings.Count(rg, ",") >= maxRanges {
		c.Request.Header.Del("Range")
	} else if rg != "" {
		c.Request.Header.Set("Range", normalizeRange(rg, f.Size))
	}
	http.ServeContent(sendfileWriter{c.Writer}, c.Request, "", f.CreatedAt, blob)
}
