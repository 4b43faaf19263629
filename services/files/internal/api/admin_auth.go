package api

import (
	"errors"
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// errNotAdmin means an admin route was called with a token that lacks the admin role.
var errNotAdmin = errors.New("admin role required")

// codeAdminRequired is the problem code of errNotAdmin (the auth service answers the same).
const codeAdminRequired = "admin_required"

// requireAdmin lets through only a valid access token that carries the admin role
// (accesstoken.RoleAdmin), whatever its scopes: 401 without a valid token, 403
// admin_required with one that lacks the role. Every /v1/admin route sits behind it
// (routes.go; the table test in admin_routes_test.go checks that none is left out). The
// claims are stored as authenticate stores them, so owner(c) names the admin.
func (s *Server) requireAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := accesstoken.FromHeader(c.GetHeader("Authorization"))
		if !ok {
			s.opts.Metrics.tokenRejected("missing")
			s.error(c, errNoToken)
			return
		}
		claims, err := s.verifier.Verify(c.Request.Context(), raw)
		if err != nil {
			if errors.Is(err, files.ErrUnavailable) {
				s.opts.Metrics.tokenRejected("not_ready")
			} else {
				s.opts.Metrics.tokenRejected(rejectionReason(err))
				err = fmt.Errorf("%w: %w", errInvalidToken, err)
			}
			s.error(c, err)
			return
		}
		if !claims.IsAdmin() {
			s.opts.Metrics.tokenRejected("not_admin")
			s.error(c, errNotAdmin)
			return
		}
		c.Set(claimsKey, claims)
		c.Next()
	}
}
