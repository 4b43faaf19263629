package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// handleUsage answers the caller's own storage use and the quota that applies to them (their
// own, else the configured default; null when unlimited): the page's quota bar.
func (s *Server) handleUsage() gin.HandlerFunc {
	type usageJSON struct {
		UsedBytes  int64  `json:"used_bytes"`
		QuotaBytes *int64 `json:"quota_bytes"` // null: no limit
	}
	return func(c *gin.Context) {
		if s.opts.Quotas == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		q, used, err := s.opts.Quotas.UserQuota(c.Request.Context(), owner(c))
		if err != nil {
			s.error(c, err)
			return
		}
		if q == nil && s.opts.DefaultQuota > 0 {
			d := s.opts.DefaultQuota
			q = &d
		}
		c.Header("Cache-Control", "private, no-store")
		c.JSON(http.StatusOK, usageJSON{UsedBytes: used, QuotaBytes: q})
	}
}
