package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/problem"
)

func (s *Server) handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok", "version": s.opts.Version}) }
}

func (s *Server) handleReadyz() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready.Ready(ctx); err != nil {
			detail := "not ready"
			var nr *NotReadyError
			if errors.As(err, &nr) {
				detail = nr.Reason
			} else {
				s.logger.WarnContext(ctx, "not ready", "err", err)
			}
			s.problem(c, problem.New(http.StatusServiceUnavailable, "not_ready", detail))
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}
