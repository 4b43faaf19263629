package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Resumable serves the tus resumable-upload protocol (package tus) under /v1/uploads/.
type Resumable interface {
	// ServeTus serves one request of the authenticated ownerID ("" for the protocol's
	// unauthenticated OPTIONS discovery).
	// via, when set, is the file request an anonymous uploader was admitted through
	// (ownerID is then its owner's).
	// It returns the file when this request completed the upload, else nil.
	ServeTus(w http.ResponseWriter, r *http.Request, ownerID string, via *files.Request) *files.File
}

// requestHeader names the file request (by its short id) that an upload without a token goes
// through; its password, if it has one, comes in Coffer-Link-Password.
const requestHeader = "Coffer-Request"

// viaKey holds the file request a tus request was admitted through.
const viaKey = "coffer.request"

// uploadAuth admits a tus request either by its bearer token (write, files:write) or, when it
// carries no Authorization header but a Coffer-Request one, through that file request: open,
// its password right (throttled), checked again on every request so that closing it stops
// uploads at once on every node. A request that cannot be admitted is 404, like an unknown one.
func (s *Server) uploadAuth(write gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		short := c.GetHeader(requestHeader)
		if short == "" || c.GetHeader("Authorization") != "" {
			write(c)
			return
		}
		if s.opts.Requests == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		r, err := s.opts.Requests.Admit(c.Request.Context(), short, c.GetHeader(linkPasswordHeader))
		if err != nil {
			s.error(c, err)
			return
		}
		c.Set(viaKey, &r)
		c.Next()
	}
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
		var via *files.Request
		if v, ok := c.Get(claimsKey); ok {
			ownerID = v.(*accesstoken.Claims).Subject
		} else if v, ok := c.Get(viaKey); ok {
			via = v.(*files.Request)
			ownerID = via.OwnerID
		}
		f := s.opts.Resumable.ServeTus(c.Writer, c.Request, ownerID, via)
		if f == nil {
			return
		}
		// The request that completed a tus upload is audited as a one-request upload is: by
		// the token's user, or as a request upload naming the file request (no actor).
		d := map[string]string{"name": f.Name, "size": strconv.FormatInt(f.Size, 10), "via": "tus"}
		action := AuditUpload
		if via != nil {
			action, d["request_id"] = AuditRequestUpload, via.ID.String()
		}
		s.record(c, action, f.ID.String(), d)
	}
}
