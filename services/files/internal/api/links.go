package api

import (
	"net/http"
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
		c.Status(http.StatusNoContent)
	}
}

// handleLinkDownload serves a file to whoever holds a valid link, without an Authorization
// header, with the same Range, ETag and conditional behaviour as the authenticated download.
// Each GET takes one download from a limited link; HEAD takes none.
func (s *Server) handleLinkDownload() gin.HandlerFunc {
	return func(c *gin.Context) {
		// The token is the credential: keep it out of the logs and of Referer headers.
		c.Set(httplog.PathKey, "/v1/links/{token}")
		c.Header("Referrer-Policy", "no-referrer")
		if s.opts.Links == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		f, blob, err := s.opts.Links.Open(c.Request.Context(), c.Param("token"), c.Request.Method == http.MethodGet)
		if err != nil {
			s.error(c, err)
			return
		}
		defer blob.Close()
		serveBlob(c, f, blob, "private, no-store")
	}
}
