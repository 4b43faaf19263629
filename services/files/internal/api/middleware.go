package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

const claimsKey = "coffer.claims"

// authenticate verifies the bearer token and requires scope. Tokens are accepted only in the
// Authorization header, never in the query string.
func (s *Server) authenticate(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		scheme, raw, ok := strings.Cut(h, " ")
		if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
			s.opts.Metrics.tokenRejected("missing")
			s.unauthorized(c, "", "a bearer access token is required")
			return
		}
		claims, err := s.verifier.Verify(c.Request.Context(), strings.TrimSpace(raw))
		if errors.Is(err, tokenauth.ErrNotReady) {
			s.opts.Metrics.tokenRejected("not_ready")
			s.error(c, err)
			return
		}
		if err != nil {
			s.logger.DebugContext(c.Request.Context(), "token rejected", "err", err)
			s.opts.Metrics.tokenRejected(rejectionReason(err))
			s.unauthorized(c, codeInvalidToken, "the access token is invalid or expired")
			return
		}
		if !claims.HasScope(scope) {
			s.opts.Metrics.tokenRejected("insufficient_scope")
			p := problem.New(http.StatusForbidden, codeInsufficientScope, "the access token lacks the "+scope+" scope")
			p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer", error="insufficient_scope", scope="` + scope + `"`}}
			s.problem(c, p)
			return
		}
		c.Set(claimsKey, claims)
		c.Next()
	}
}

func owner(c *gin.Context) string {
	return c.MustGet(claimsKey).(*accesstoken.Claims).Subject
}

// fileID parses the :id parameter. A malformed id is answered exactly like an unknown one.
func fileID(c *gin.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil || len(c.Param("id")) != 36 {
		return uuid.UUID{}, files.ErrNotFound
	}
	return id, nil
}
