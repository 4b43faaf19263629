package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Quotas reads and sets per-user quotas (postgres.DB). A user's own quota overrides the
// configured default (COFFER_FILES_USER_QUOTA) while quotas are enforced.
type Quotas interface {
	// UserQuota returns the user's own quota (nil: the default) and the bytes they store.
	UserQuota(ctx context.Context, userID string) (quota *int64, used int64, err error)
	// SetUserQuota sets (nil: clears) the user's own quota.
	SetUserQuota(ctx context.Context, userID string, quota *int64) error
}

// adminRoutes lists the file service's admin API (/v1/admin, admin role required; the
// auth service administers users and clients). Other admin routes (webhooks) add themselves
// with s.requireAdmin(); the table test in admin_routes_test.go covers every /v1/admin route.
func (s *Server) adminRoutes() {
	admin := s.requireAdmin()
	r := s.engine
	r.GET("/v1/admin/audit", admin, s.handleAdminAudit())
	r.GET("/v1/admin/users/:user_id/quota", admin, s.handleGetQuota())
	r.POST("/v1/admin/users/:user_id/quota", admin, s.handleSetQuota())
}

// AdminRoutes lists the method and path of every route under /v1/admin, from the router.
func (s *Server) AdminRoutes() [][2]string {
	var out [][2]string
	for _, r := range s.engine.Routes() {
		if r.Method != http.MethodOptions && strings.HasPrefix(r.Path, "/v1/admin/") {
			out = append(out, [2]string{r.Method, r.Path})
		}
	}
	return out
}

type quotaJSON struct {
	UserID       string `json:"user_id"`
	QuotaBytes   *int64 `json:"quota_bytes"` // null: the default applies
	DefaultBytes int64  `json:"default_bytes"`
	UsedBytes    int64  `json:"used_bytes"`
}

// adminUserID checks :user_id, an access token's sub (any short plain string).
func adminUserID(c *gin.Context) (string, error) {
	id := c.Param("user_id")
	if id == "" || len(id) > 255 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", files.Invalid("user_id must be 1-255 printable characters")
	}
	return id, nil
}

func (s *Server) handleGetQuota() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := adminUserID(c)
		if err == nil && s.opts.Quotas == nil {
			err = files.ErrNotFound
		}
		if err != nil {
			s.error(c, err)
			return
		}
		q, used, err := s.opts.Quotas.UserQuota(c.Request.Context(), id)
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, quotaJSON{UserID: id, QuotaBytes: q, DefaultBytes: s.opts.DefaultQuota, UsedBytes: used})
	}
}

func (s *Server) handleSetQuota() gin.HandlerFunc {
	type request struct {
		QuotaBytes *int64 `json:"quota_bytes"`
	}
	return func(c *gin.Context) {
		id, err := adminUserID(c)
		if err == nil && s.opts.Quotas == nil {
			err = files.ErrNotFound
		}
		if err != nil {
			s.error(c, err)
			return
		}
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		if req.QuotaBytes != nil && *req.QuotaBytes < 0 {
			s.error(c, files.Invalid("quota_bytes must be at least 0, or null for the default"))
			return
		}
		if err := s.opts.Quotas.SetUserQuota(c.Request.Context(), id, req.QuotaBytes); err != nil {
			s.error(c, err)
			return
		}
		q, used, err := s.opts.Quotas.UserQuota(c.Request.Context(), id)
		if err != nil {
			s.error(c, err)
			return
		}
		d := map[string]string{"quota_bytes": "default"}
		if q != nil {
			d["quota_bytes"] = strconv.FormatInt(*q, 10)
		}
		s.record(c, AuditQuotaSet, id, d)
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, quotaJSON{UserID: id, QuotaBytes: q, DefaultBytes: s.opts.DefaultQuota, UsedBytes: used})
	}
}
