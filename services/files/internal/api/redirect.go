package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/digest"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// redirectContent answers an authorized GET of a file's content with a 307 to a short-lived
// URL of its bytes in the object store (Options.Redirect), so the bytes never pass through
// this node. Authorization is exactly the proxied download's: the same row query (owner or
// share), the same Servable and missing-content checks; anything refused there is refused
// here with the same problem, and no URL is made. What the object store then serves is its
// own: Range (single ranges) and conditional requests against its ETag; Coffer's ETag and
// Repr-Digest are on the 307 itself.
func (s *Server) redirectContent(c *gin.Context, id uuid.UUID) {
	f, err := s.files.Get(c.Request.Context(), owner(c), id)
	if err != nil {
		s.error(c, err)
		return
	}
	u, err := files.BlobURL(c.Request.Context(), s.opts.Redirect, f, files.BlobURLHeaders{
		ContentType: f.ContentType, ContentDisposition: contentDisposition(f.Name), CacheControl: "private, no-store",
	})
	if err != nil {
		s.error(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("ETag", etag(f.SHA256))
	if noneMatch(c.GetHeader("If-None-Match"), etag(f.SHA256)) {
		// The client holds these bytes already (Coffer's ETag, which S3's response would not
		// match): nothing to fetch, nothing to record.
		h.Set("Cache-Control", "private, no-cache")
		c.Status(http.StatusNotModified)
		return
	}
	h.Set("Repr-Digest", digest.Format(f.SHA256))
	// The URL is a credential for its lifetime: no cache may keep the redirect.
	h.Set("Cache-Control", "private, no-store")
	h.Set("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusTemporaryRedirect, u)
	via := "owner"
	if f.OwnerID != owner(c) {
		via = "share"
	}
	s.recordDownload(c, f, via, map[string]string{"redirect": "true"})
}

// noneMatch reports whether an If-None-Match header names tag (weak comparison, RFC 9110
// section 13.1.2) or is "*".
func noneMatch(header, tag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == tag {
			return true
		}
	}
	return false
}
