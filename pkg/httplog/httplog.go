// Package httplog is the request logging and panic recovery both services put in front of
// their Gin handlers. It logs with log/slog and never logs query strings, headers or bodies,
// which may carry tokens.
package httplog

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/problem"
)

// PathKey is the gin context key under which a handler may put the path to log instead of
// the real one, for routes whose path carries a secret (a signed link's token).
const PathKey = "httplog.path"

// Gin logs one line per request: method, path, status, bytes of body sent, duration and
// client address. The bytes include what went out through io.ReaderFrom (sendfile), which
// gin's own writer does not count: handlers below see a writer that offers ReadFrom and counts it.
func Gin(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		w := &countingWriter{ResponseWriter: c.Writer}
		c.Writer = w
		c.Next()
		// The handler directly, with no caller's PC: Logger.LogAttrs walks the stack for one
		// on every line, about 1% of a small download's CPU, for a source no handler here
		// prints.
		ctx, h := c.Request.Context(), logger.Handler()
		if !h.Enabled(ctx, slog.LevelInfo) {
			return
		}
		r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
		r.AddAttrs(
			slog.String("method", c.Request.Method),
			slog.String("path", loggedPath(c)),
			slog.Int("status", c.Writer.Status()),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", c.ClientIP()),
		)
		_ = h.Handle(ctx, r)
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

// countingWriter is gin's ResponseWriter plus an io.ReaderFrom that hands the copy to the
// net/http writer underneath (which uses sendfile for an *os.File) and counts what it sent,
// so Size reports every byte of the body however it was written.
type countingWriter struct {
	gin.ResponseWriter
	sent int
}

// ReadFrom implements io.ReaderFrom.
func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	w.ResponseWriter.WriteHeaderNow()
	var n int64
	var err error
	if rf, ok := under(w.ResponseWriter).(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
		w.sent -= int(n) // already counted by the gin writer's Write
	}
	w.sent += int(n)
	return n, err
}

// Unwrap gives http.ResponseController the writer underneath (deadlines, flushing).
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// under is the net/http writer beneath gin's, or nil.
func under(w http.ResponseWriter) http.ResponseWriter {
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
		return u.Unwrap()
	}
	return nil
}

// Size implements gin.ResponseWriter: the body bytes written, or -1 if none were.
func (w *countingWriter) Size() int {
	if w.sent == 0 {
		return w.ResponseWriter.Size()
	}
	return max(w.ResponseWriter.Size(), 0) + w.sent
}

// loggedPath is the request path, or what a handler put under PathKey instead.
func loggedPath(c *gin.Context) string {
	if p := c.GetString(PathKey); p != "" {
		return p
	}
	return c.Request.URL.Path
}
