package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// shareJSON is a share as the API shows it.
type shareJSON struct {
	FileID    string    `json:"file_id"`
	UserID    string    `json:"user_id"`
	Username  string    `json:"username,omitempty"` // when shared by username
	CreatedAt time.Time `json:"created_at"`
}

// handleShare grants another user read access. The recipient is named either by username,
// which the auth service resolves (one call at share time, made with the caller's own token),
// or by user_id, the sub of their access tokens. The file service holds no user directory.
func (s *Server) handleShare() gin.HandlerFunc {
	type request struct {
		UserID   *string `json:"user_id"`
		Username *string `json:"username"`
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
		var userID, username string
		switch {
		case (req.UserID == nil) == (req.Username == nil):
			s.error(c, files.Invalid("name the recipient by exactly one of username or user_id"))
			return
		case req.UserID != nil:
			userID = *req.UserID
		default:
			if userID, err = s.lookupUser(c, *req.Username); err != nil {
				s.error(c, err)
				return
			}
			username = *req.Username
		}
		sh, err := s.opts.Shares.Grant(c.Request.Context(), files.Grant{OwnerID: owner(c), OwnerName: ownerName(c), FileID: id, UserID: userID, Username: username})
		if err != nil {
			s.error(c, err)
			return
		}
		s.record(c, AuditShare, id.String(), map[string]string{"user_id": sh.UserID})
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusCreated, shareJSON{FileID: sh.FileID.String(), UserID: sh.UserID, Username: sh.Username, CreatedAt: sh.CreatedAt})
	}
}

// maxUsernameBytes bounds a username before it is sent anywhere; no valid one is longer.
const maxUsernameBytes = 64

// lookupUser resolves a username with the caller's bearer token (already verified by
// authenticate).
func (s *Server) lookupUser(c *gin.Context, username string) (string, error) {
	if username == "" || len(username) > maxUsernameBytes {
		return "", files.Invalid("username must be 1 to %d bytes", maxUsernameBytes)
	}
	if s.opts.Users == nil {
		return "", files.Invalid("sharing by username is not configured; send user_id")
	}
	raw, _ := accesstoken.FromHeader(c.GetHeader("Authorization")) // present: authenticate passed
	return s.opts.Users.LookupUser(c.Request.Context(), raw, username)
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
		s.record(c, AuditUnshare, id.String(), map[string]string{"user_id": c.Param("user_id")})
		c.Status(http.StatusNoContent)
	}
}

// handleListShares lists who a file is shared with, newest first, paged. Another user's file
// answers 404 like an unknown one.
func (s *Server) handleListShares() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil || s.opts.Shares == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		if !s.ownFile(c, id) {
			return
		}
		servePage(s, c, "shares", func(ctx context.Context, opts files.ListOptions) ([]files.Share, string, error) {
			page, err := s.opts.Shares.ListShares(ctx, owner(c), id, opts)
			return page.Shares, page.NextCursor, err
		}, func(sh files.Share) shareJSON {
			return shareJSON{FileID: sh.FileID.String(), UserID: sh.UserID, Username: sh.Username, CreatedAt: sh.CreatedAt}
		})
	}
}

// ownFile reports whether id is the caller's own file, having answered 404 (never an empty
// list that says the id exists, and the same answer for another user's file as for an unknown
// one) when it is not.
func (s *Server) ownFile(c *gin.Context, id uuid.UUID) bool {
	f, err := s.files.Get(c.Request.Context(), owner(c), id)
	if err != nil || f.OwnerID != owner(c) {
		s.error(c, cmpErr(err, files.ErrNotFound))
		return false
	}
	return true
}

// cmpErr returns err, or def when err is nil.
func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
