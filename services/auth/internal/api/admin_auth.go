package api

import (
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// adminClaimsKey holds the verified claims of an admin route's caller.
const adminClaimsKey = "coffer.admin.claims"

// requireAdmin lets through only a valid access token of ours that carries the admin role
// (accesstoken.RoleAdmin): 401 without a valid token, 403 admin_required with one that lacks
// the role. Every /v1/admin route sits behind it (routes.go; the table test in
// admin_routes_test.go checks that none is left out).
func (s *Server) requireAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := accesstoken.FromHeader(c.GetHeader("Authorization"))
		if !ok {
			s.error(c, auth.ErrNoToken)
			return
		}
		claims, err := s.tokens.Verify(c.Request.Context(), raw)
		if err != nil {
			s.error(c, fmt.Errorf("%w: %w", auth.ErrInvalidToken, err))
			return
		}
		if !claims.IsAdmin() {
			s.error(c, auth.ErrNotAdmin)
			return
		}
		c.Set(adminClaimsKey, claims)
		c.Next()
	}
}

// adminClaims returns the claims requireAdmin stored.
func adminClaims(c *gin.Context) *accesstoken.Claims {
	return c.MustGet(adminClaimsKey).(*accesstoken.Claims)
}
