package api

import (
	"errors"
	"fmt"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

const claimsKey = "coffer.claims"

// Authentication failures, mapped to their 401 and 403 answers in errors.go.
var (
	errNoToken      = errors.New("no bearer token")
	errInvalidToken = errors.New("invalid access token")
)

// scopeError names the scope an access token lacks.
type scopeError struct{ scope string }

func (e *scopeError) Error() string { return "insufficient scope: " + e.scope + " required" }

// authenticate verifies the bearer token and requires scope, storing the claims. Tokens are
// accepted only in the Authorization header, never in the query string. (The auth service's
// middleware has the same shape.)
func (s *Server) authenticate(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := accesstoken.FromHeader(c.GetHeader("Authorization"))
		if !ok {
			s.opts.Metrics.tokenRejected("missing")
			s.error(c, errNoToken)
			return
		}
		claims, err := s.verifier.Verify(c.Request.Context(), raw)
		if err != nil {
			if errors.Is(err, files.ErrUnavailable) { // not ready: 503, not 401
				s.opts.Metrics.tokenRejected("not_ready")
			} else {
				s.opts.Metrics.tokenRejected(rejectionReason(err))
				err = fmt.Errorf("%w: %w", errInvalidToken, err)
			}
			s.error(c, err)
			return
		}
		if !claims.HasScope(scope) {
			s.opts.Metrics.tokenRejected("insufficient_scope")
			s.error(c, &scopeError{scope: scope})
			return
		}
		c.Set(claimsKey, claims)
		c.Next()
	}
}

func owner(c *gin.Context) string {
	return c.MustGet(claimsKey).(*accesstoken.Claims).Subject
}

// ownerName is the caller's username as their token gives it (preferred_username), "" if
// it gives none: for display only, the caller is owner(c).
func ownerName(c *gin.Context) string {
	return c.MustGet(claimsKey).(*accesstoken.Claims).PreferredUsername
}

// fileID parses the :id parameter. A malformed id is answered exactly like an unknown one.
func fileID(c *gin.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil || len(c.Param("id")) != 36 {
		return uuid.UUID{}, files.ErrNotFound
	}
	return id, nil
}
