package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Resumable serves the tus resumable-upload protocol (package tus) under /v1/uploads/.
type Resumable interface {
	// ServeTus serves one request of the authenticated ownerID ("" for the protocol's
	// unauthenticated OPTIONS discovery).
	ServeTus(w http.ResponseWriter, r *http.Request, ownerID string)
}

// handleTus hands a request to the tus handler with the caller the authenticate middleware
// verified (every request but OPTIONS carries a files:write token).
func (s *Server) handleTus() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.opts.Resumable == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		ownerID := ""
		if v, ok := c.Get(claimsKey); ok {
			ownerID = v.(*accesstoken.Claims).Subject
		}
		s.opts.Resumable.ServeTus(c.Writer, c.Request, ownerID)
	}
}
