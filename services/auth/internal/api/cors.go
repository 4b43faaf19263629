package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// cors answers cross-origin requests from the browser origins that registered clients list:
// Access-Control-Allow-Origin names the exact origin (never *), and no credentials are
// allowed (these endpoints take no cookies). OPTIONS preflights end here with 204; an
// unlisted origin gets no CORS headers, so the browser keeps the answer from it.
func (s *Server) cors(methods string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		preflight := c.Request.Method == http.MethodOptions
		if origin := c.GetHeader("Origin"); origin != "" {
			ok, err := s.accounts.OriginAllowed(c.Request.Context(), origin)
			if err != nil {
				s.logger.WarnContext(c.Request.Context(), "cors origin check", "err", err)
			}
			if ok {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, ETag")
				if preflight {
					h.Set("Access-Control-Allow-Methods", methods)
					h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-None-Match")
					h.Set("Access-Control-Max-Age", "600")
				}
			}
		}
		if preflight {
			h.Set("Allow", methods+", OPTIONS")
			c.AbortWithStatus(http.StatusNoContent)
		}
	}
}
