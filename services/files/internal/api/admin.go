package api

import (
	"context"
	"errors"
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
	// The fate of a deleted user's files (the auth service's user delete states it).
	r.DELETE("/v1/admin/users/:user_id/files", admin, s.handleDeleteUserFiles())
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

// handleDeleteUserFiles deletes every file a user owns: what an admin does after deleting the
// user in the auth service (whose answer says so), or to empty an account. Each file goes as
// its owner's DELETE would (their file requests first, then rows, shares and links at once, bytes by the blob rules, quota
// released), each audited as file.delete by the admin, then one admin.user_files.delete with
// the totals. The answer says how many files and bytes went; calling it again deletes what
// was uploaded meanwhile, if anything.
func (s *Server) handleDeleteUserFiles() gin.HandlerFunc {
	type answer struct {
		UserID       string `json:"user_id"`
		DeletedFiles int    `json:"deleted_files"`
		DeletedBytes int64  `json:"deleted_bytes"`
		// DeletedRequests counts the user's file requests, deleted first.
		DeletedRequests int `json:"deleted_requests"`
	}
	return func(c *gin.Context) {
		id, err := adminUserID(c)
		if err != nil {
			s.error(c, err)
			return
		}
		ctx := c.Request.Context()
		a := answer{UserID: id}
		// Their file requests go first, so no stranger uploads into the account meanwhile.
		if s.opts.Requests != nil {
			n, err := s.deleteUserRequests(c, id)
			a.DeletedRequests = n
			if err != nil {
				s.error(c, err)
				return
			}
		}
		cursor := ""
		for {
			// A keyset cursor walks on past deleted rows (and a lagging replica's list only
			// repeats a row, which Delete then does not find).
			page, err := s.files.List(ctx, id, files.ListOptions{Limit: 100, Cursor: cursor})
			if err != nil {
				s.error(c, err)
				return
			}
			for _, f := range page.Files {
				err := s.files.Delete(ctx, id, f.ID)
				if errors.Is(err, files.ErrNotFound) {
					continue // deleted meanwhile by its owner
				}
				if err != nil {
					s.record(c, AuditUserFilesDelete, id, map[string]string{"files": strconv.Itoa(a.DeletedFiles), "bytes": strconv.FormatInt(a.DeletedBytes, 10), "requests": strconv.Itoa(a.DeletedRequests), "complete": "false"})
					s.error(c, err)
					return
				}
				a.DeletedFiles++
				a.DeletedBytes += f.Size
				s.record(c, AuditDelete, f.ID.String(), map[string]string{"owner": id, "by": "admin"})
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		s.record(c, AuditUserFilesDelete, id, map[string]string{"files": strconv.Itoa(a.DeletedFiles), "bytes": strconv.FormatInt(a.DeletedBytes, 10), "requests": strconv.Itoa(a.DeletedRequests), "complete": "true"})
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, a)
	}
}

// deleteUserRequests deletes every file request of the user and returns how many went.
func (s *Server) deleteUserRequests(c *gin.Context, userID string) (int, error) {
	ctx := c.Request.Context()
	n, cursor := 0, ""
	for {
		page, err := s.opts.Requests.List(ctx, userID, files.ListOptions{Limit: 100, Cursor: cursor})
		if err != nil {
			return n, err
		}
		for _, r := range page.Requests {
			err := s.opts.Requests.Delete(ctx, userID, r.ID)
			if errors.Is(err, files.ErrNotFound) {
				continue
			}
			if err != nil {
				return n, err
			}
			n++
		}
		if page.NextCursor == "" {
			return n, nil
		}
		cursor = page.NextCursor
	}
}
