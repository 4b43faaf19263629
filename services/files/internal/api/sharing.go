package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// shareJSON is a share as the API shows it.
type shareJSON struct {
	FileID    string    `json:"file_id"`
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
}

// handleShare grants another user read access. The recipient is named by user_id, the sub of
// their access tokens (the id the auth service returns at sign-up): the file service holds no
// user directory and makes no call to the auth service per request.
func (s *Server) handleShare() gin.HandlerFunc {
	type request struct {
		UserID string `json:"user_id"`
	}
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil || s.opts.Shares == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		sh, err := s.opts.Shares.Share(c.Request.Context(), owner(c), id, req.UserID)
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusCreated, shareJSON{FileID: sh.FileID.String(), UserID: sh.UserID, CreatedAt: sh.CreatedAt})
	}
}

func (s *Server) handleUnshare() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil || s.opts.Shares == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		if err := s.opts.Shares.Unshare(c.Request.Context(), owner(c), id, c.Param("user_id")); err != nil {
			s.error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}
