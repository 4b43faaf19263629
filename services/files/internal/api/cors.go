package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// CORS lets pages on the configured origins (the web app) call the API from a browser.
// An origin not configured gets no CORS header at all, so the browser keeps the answer from
// it. The headers are set before the route runs and the ResponseWriter is never wrapped, so
// downloads keep their sendfile path.
type CORS struct {
	// Origins are the allowed origins, exactly as browsers send them (scheme://host[:port]).
	Origins []string
	// MaxAge is how long, in seconds, a browser may cache a preflight answer. Default 600.
	MaxAge int
}

// corsAllowHeaders are the request headers the API and the tus endpoint read.
var corsAllowHeaders = strings.Join([]string{
	"Authorization", "Content-Type", "Content-Digest", "Repr-Digest", "Want-Repr-Digest",
	"Range", "If-Range", "If-None-Match", "If-Match", "If-Modified-Since",
	"Tus-Resumable", "Upload-Length", "Upload-Offset", "Upload-Metadata", "Upload-Checksum",
	"Upload-Defer-Length", "Upload-Concat", "X-HTTP-Method-Override", "X-Requested-With",
	"Coffer-Request", "Coffer-Link-Password", // file request uploads, link and request passwords
	"Idempotency-Key", // the page's tus creations (a retry finds the first upload)
}, ", ")

// corsExposeHeaders are the response headers a page must be able to read.
var corsExposeHeaders = strings.Join([]string{
	"Location", "ETag", "Repr-Digest", "Content-Digest", "Content-Disposition", "Content-Range",
	"Content-Length", "Accept-Ranges", "Retry-After", "WWW-Authenticate",
	"Upload-Offset", "Upload-Length", "Upload-Expires", "Upload-Metadata", "Upload-Defer-Length",
	"Upload-Concat", "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size",
	"Tus-Checksum-Algorithm", "Coffer-File-Id",
}, ", ")

const corsAllowMethods = "GET, HEAD, POST, PATCH, DELETE, OPTIONS"

// cors answers preflights for any route and marks actual answers readable by allowed origins.
// Credentials (cookies) are never allowed: the API authenticates with bearer tokens only.
func (s *Server) cors(cfg CORS) gin.HandlerFunc {
	allowed := make(map[string]bool, len(cfg.Origins))
	for _, o := range cfg.Origins {
		allowed[strings.TrimSuffix(o, "/")] = true
	}
	maxAge := strconv.Itoa(cfg.MaxAge)
	if cfg.MaxAge == 0 {
		maxAge = "600"
	}
	return func(c *gin.Context) {
		origin := c.Request.Header.Get("Origin")
		if len(allowed) == 0 {
			c.Next()
			return
		}
		h := c.Writer.Header()
		// The answer depends on Origin even when it grants nothing, so caches must key on it.
		h.Add("Vary", "Origin")
		if origin == "" || !allowed[origin] {
			c.Next()
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if c.Request.Method == http.MethodOptions && c.Request.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", maxAge)
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		c.Next()
	}
}
