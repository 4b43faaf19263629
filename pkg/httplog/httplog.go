// Package httplog is the request logging and panic recovery both services put in front of
// their Gin handlers. It logs with log/slog and never logs query strings, headers or bodies,
// which may carry tokens.
package httplog

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/problem"
)

// PathKey is the gin context key under which a handler may put the path to log instead of
// the real one, for routes whose path carries a secret (a signed link's token).
const PathKey = "httplog.path"

// Gin logs one line per request: method, path, status, duration and client address.
func Gin(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
			slog.String("method", c.Request.Method),
			slog.String("path", loggedPath(c)),
			slog.Int("status", c.Writer.Status()),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", c.ClientIP()),
		)
	}
}

// Recovery turns a handler panic into a logged 500 problem response instead of a dropped
// connection. http.ErrAbortHandler is passed on, as net/http expects.
func Recovery(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			logger.ErrorContext(c.Request.Context(), "panic", "method", c.Request.Method, "path", loggedPath(c), "err", fmt.Sprint(r))
			if !c.Writer.Written() {
				p := problem.New(http.StatusInternalServerError, "internal", "internal error")
				p.Instance = loggedPath(c) // never a secret the path carries
				problem.Write(c.Writer, c.Request, p)
			}
			c.Abort()
		}()
		c.Next()
	}
}

// loggedPath is the request path, or what a handler put under PathKey instead.
func loggedPath(c *gin.Context) string {
	if p := c.GetString(PathKey); p != "" {
		return p
	}
	return c.Request.URL.Path
}
