package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/httplog"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

func (s *Server) handleCreateLink() gin.HandlerFunc {
	type request struct {
		ExpiresIn    int64 `json:"expires_in"`
		MaxDownloads *int  `json:"max_downloads,omitempty"`
	}
	type response struct {
		ID           string    `json:"id"`
		URL          string    `json:"url"`
		ExpiresAt    time.Time `json:"expires_at"`
		MaxDownloads *int      `json:"max_downloads,omitempty"`
	}
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil || s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		ttl := time.Duration(min(max(req.ExpiresIn, 0), 1<<31)) * time.Second
		l, tok, err := s.opts.Links.Create(c.Request.Context(), owner(c), id, ttl, req.MaxDownloads)
		if err != nil {
			s.error(c, err)
			return
		}
		d := map[string]string{"link_id": l.ID.String(), "expires_at": l.ExpiresAt.UTC().Format(time.RFC3339)}
		if l.DownloadsLeft != nil {
			d["max_downloads"] = strconv.Itoa(*l.DownloadsLeft)
		}
		s.record(c, AuditLinkCreate, id.String(), d)
		c.Header("Cache-Control", "no-store")
		c.Header("Location", "/v1/files/"+id.String()+"/links/"+l.ID.String())
		c.JSON(http.StatusCreated, response{ID: l.ID.String(), URL: s.opts.PublicURL + "/v1/links/" + tok, ExpiresAt: l.ExpiresAt, MaxDownloads: l.DownloadsLeft})
	}
}

func (s *Server) handleRevokeLink() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		linkID, err2 := uuid.Parse(c.Param("link_id"))
		if err != nil || err2 != nil || s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		if err := s.opts.Links.Revoke(c.Request.Context(), owner(c), id, linkID); err != nil {
			s.error(c, err)
			return
		}
		s.record(c, AuditLinkRevoke, id.String(), map[string]string{"link_id": linkID.String()})
		c.Status(http.StatusNoContent)
	}
}

// handleLinkDownload serves a file to whoever holds a valid link, without an Authorization
// header, with the same Range, ETag and conditional behaviour as the authenticated download.
// A limited link loses one download per response that carries the file's first byte (see
// takesDownload), so resuming a download or a link preview's HEAD does not use it up.
func (s *Server) handleLinkDownload() gin.HandlerFunc {
	return func(c *gin.Context) {
		// The token is the credential: keep it out of the logs and of Referer headers.
		c.Set(httplog.PathKey, "/v1/links/{token}")
		c.Header("Referrer-Policy", "no-referrer")
		if s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		f, blob, err := s.opts.Links.Open(c.Request.Context(), c.Param("token"), func(f files.File) bool {
			return takesDownload(c.Request, f)
		})
		if err != nil {
			s.error(c, err)
			return
		}
		defer blob.Close()
		serveBlob(c, f, blob, "private, no-store")
		var details map[string]string
		if li, ok := s.opts.Links.(linkIdentifier); ok {
			if id, ok := li.LinkID(c.Param("token")); ok {
				details = map[string]string{"link_id": id.String()}
			}
		}
		s.recordDownload(c, f, "link", details)
	}
}

// takesDownload reports whether a link request for f counts as a download: a GET whose
// response will carry the file from byte 0, that is a full 200 or a range that starts there.
// A HEAD, a 304 revalidation, or a Range from a later byte with no (or a current) If-Range
// (a resumed download) does not. When in doubt (a Range net/http would ignore, an If-Range
// date) it counts: a limit must never be exceeded, only occasionally reached early.
func takesDownload(r *http.Request, f files.File) bool {
	if r.Method != http.MethodGet {
		return false
	}
	tag := etag(f.SHA256)
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimPrefix(strings.TrimSpace(t), "W/"); t == tag || t == "*" {
				return false // 304 Not Modified: no body
			}
		}
	}
	rg := r.Header.Get("Range")
	if rg == "" || len(rg) > maxRangeHeader || strings.Count(rg, ",") >= maxRanges {
		return true // the whole file (serveBlob drops an abusive Range)
	}
	if ir := r.Header.Get("If-Range"); ir != "" && ir != tag {
		return true // stale or a date: possibly the whole file
	}
	specs, ok := strings.CutPrefix(rg, "bytes=")
	if !ok {
		return true
	}
	for _, spec := range strings.Split(specs, ",") {
		start, _, _ := strings.Cut(strings.TrimSpace(spec), "-")
		if n, err := strconv.ParseInt(strings.TrimSpace(start), 10, 64); err != nil || n <= 0 {
			return true // from byte 0, or a suffix range that may cover it
		}
	}
	return false
}
