package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Retention sets file expiries (files.Retention).
type Retention interface {
	SetExpiry(ctx context.Context, ownerID string, id uuid.UUID, expiresAt *time.Time) (files.File, error)
}

// handleUpdateFile changes what an owner may change of a file after its upload, owner only
// (anyone else gets 404): {"name": "new/path.txt"} renames it or moves it to another folder
// (Folders), {"expires_at": "2027-01-01T00:00:00Z"} or null sets or clears its expiry
// (Retention). Both may come together; the rename goes first.
func (s *Server) handleUpdateFile() gin.HandlerFunc {
	type request struct {
		Name      *string         `json:"name"`
		ExpiresAt json.RawMessage `json:"expires_at"`
	}
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil {
			s.error(c, err)
			return
		}
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		var exp *time.Time
		switch {
		case req.Name == nil && len(req.ExpiresAt) == 0:
			s.error(c, files.Invalid("send name, expires_at, or both"))
			return
		case len(req.ExpiresAt) > 0 && json.Unmarshal(req.ExpiresAt, &exp) != nil:
			s.error(c, files.Invalid("expires_at must be an RFC 3339 time or null"))
			return
		case (req.Name != nil && s.opts.Folders == nil) || (len(req.ExpiresAt) > 0 && s.opts.Retention == nil):
			s.error(c, files.ErrNotFound)
			return
		}
		var f files.File
		if req.Name != nil {
			if f, err = s.opts.Folders.Rename(c.Request.Context(), owner(c), id, *req.Name); err != nil {
				s.error(c, err)
				return
			}
		}
		if len(req.ExpiresAt) > 0 {
			if f, err = s.opts.Retention.SetExpiry(c.Request.Context(), owner(c), id, exp); err != nil {
				s.error(c, err)
				return
			}
		}
		c.Header("Cache-Control", "private, no-store")
		c.JSON(http.StatusOK, toJSON(f))
	}
}
