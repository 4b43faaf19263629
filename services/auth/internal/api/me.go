package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// handleMe answers who an access token belongs to, for a page's header ("signed in as"): the
// id, username and whether the token carries the admin role. Any client's token with
// files:read may ask; it learns nothing but its own user's name (the account routes, which
// change things, stay first-party only).
func (s *Server) handleMe() gin.HandlerFunc {
	type response struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Admin    bool   `json:"admin"`
	}
	return func(c *gin.Context) {
		claims := c.MustGet(tokenClaimsKey).(*accesstoken.Claims)
		if s.identity == nil {
			s.error(c, auth.ErrNotFound)
			return
		}
		u, err := s.identity.AccountUser(c.Request.Context(), claims.Subject)
		if errors.Is(err, auth.ErrNotFound) {
			// A service client's token, or a user disabled since: as account.go answers.
			err = fmt.Errorf("%w: subject is no enabled user", auth.ErrInvalidToken)
		}
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Header("Vary", "Authorization")
		encode(c, http.StatusOK, response{ID: u.ID.String(), Username: u.Username, Admin: claims.IsAdmin()})
	}
}
