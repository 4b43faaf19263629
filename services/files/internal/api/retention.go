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

// handleUpdateFile changes what an owner may change of a file after its upload: its expiry
// ({"expires_at": "2027-01-01T00:00:00Z"} or null to keep it until deleted).
func (s *Server) handleUpdateFile() gin.HandlerFunc {
	type request struct {
		ExpiresAt json.RawMessage `json:"expires_at"`
	}
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil || s.opts.Retention == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		if len(req.ExpiresAt) == 0 {
			s.error(c, files.Invalid("expires_at (a time, or null) is required"))
			return
		}
		var exp *time.Time
		if err := json.Unmarshal(req.ExpiresAt, &exp); err != nil {
			s.error(c, files.Invalid("expires_at must be an RFC 3339 time or null"))
			return
		}
		f, err := s.opts.Retention.SetExpiry(c.Request.Context(), owner(c), id, exp)
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "private, no-cache")
		c.JSON(http.StatusOK, toJSON(f))
	}
}
