package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/auditlog"
	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Auditor takes audit events without waiting (auditlog.Batcher): recording a download must
// not add a database round trip to it.
type Auditor interface {
	Record(e auditlog.Event)
}

// AuditLog is what the activity and admin audit routes read (auditpg.Store).
type AuditLog interface {
	Each(ctx context.Context, q auditpg.Query, fn func(auditlog.Record) error) error
}

// Audited actions of the file service (docs/SECURITY.md, section L). Every event's target is
// the file id, so GET /v1/files/{id}/activity finds them all.
const (
	AuditUpload        = "file.upload"
	AuditDownload      = "file.download" // details: via owner | share | link (with link_id)
	AuditDelete        = "file.delete"
	AuditShare         = "share.create"
	AuditUnshare       = "share.delete"
	AuditLinkCreate    = "link.create"
	AuditLinkRevoke    = "link.revoke"
	AuditRequestUpload = "file.request_upload"
	AuditQuotaSet      = "admin.quota.set"
	// AuditUserFilesDelete is an admin's deletion of all of a user's files (target: the user).
	AuditUserFilesDelete = "admin.user_files.delete"
)

// record queues an event naming the caller (if the request carried a token) and its client.
func (s *Server) record(c *gin.Context, action, target string, details map[string]string) {
	if s.opts.Audit == nil {
		return
	}
	e := auditlog.Event{Action: action, Target: target, Address: c.ClientIP(), Details: details}
	if v, ok := c.Get(claimsKey); ok {
		cl := v.(*accesstoken.Claims)
		e.Actor, e.ClientID = cl.Subject, cl.ClientID
	}
	s.opts.Audit.Record(e)
}

// recordDownload records a GET that sent a file or part of one (HEAD, 304 and 416 did not),
// or redirected it to the object store (redirect mode: the download was authorized; whether
// and how much the client then fetched is only in the object store's own logs).
func (s *Server) recordDownload(c *gin.Context, f files.File, via string, details map[string]string) {
	if st := c.Writer.Status(); s.opts.Audit == nil || c.Request.Method != http.MethodGet ||
		(st != http.StatusOK && st != http.StatusPartialContent && st != http.StatusTemporaryRedirect) {
		return
	}
	if details == nil {
		details = map[string]string{}
	}
	details["via"] = via
	if via != "link" {
		details["owner"] = f.OwnerID
	}
	s.record(c, AuditDownload, f.ID.String(), details)
}

// linkIdentifier names the link a token belongs to, once its signature checks (files.Links).
type linkIdentifier interface {
	LinkID(token string) (uuid.UUID, bool)
}

// handleActivity answers the owner of a file with its audit records: who downloaded it and
// through which share or link, its shares, links and deletion. Anyone else gets 404.
func (s *Server) handleActivity() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil || s.opts.AuditLog == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		f, err := s.files.Get(c.Request.Context(), owner(c), id)
		if err == nil && f.OwnerID != owner(c) {
			err = files.ErrNotFound // shared with the caller, not theirs
		}
		if err != nil {
			s.error(c, err)
			return
		}
		q, _, err := auditpg.ParseQuery(c.Request.URL.Query())
		if err != nil {
			s.error(c, files.Invalid("%s", err.(*auditpg.QueryError).Reason))
			return
		}
		q.Target, q.Actor, q.ClientID = id.String(), "", ""
		s.writeRecords(c, q, false)
	}
}

// handleAdminAudit answers admins with the file service's audit records, filtered and paged,
// or all as JSON lines with format=jsonl.
func (s *Server) handleAdminAudit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.opts.AuditLog == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		q, jsonl, err := auditpg.ParseQuery(c.Request.URL.Query())
		if err != nil {
			s.error(c, files.Invalid("%s", err.(*auditpg.QueryError).Reason))
			return
		}
		s.writeRecords(c, q, jsonl)
	}
}

func (s *Server) writeRecords(c *gin.Context, q auditpg.Query, jsonl bool) {
	if jsonl {
		c.Header("Content-Type", "application/jsonl")
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
		enc := json.NewEncoder(c.Writer)
		if err := s.opts.AuditLog.Each(c.Request.Context(), q, func(r auditlog.Record) error { return enc.Encode(auditlog.JSON(r)) }); err != nil {
			s.logger.WarnContext(c.Request.Context(), "audit export", "err", err)
		}
		return
	}
	out := []auditlog.JSONRecord{}
	if err := s.opts.AuditLog.Each(c.Request.Context(), q, func(r auditlog.Record) error {
		out = append(out, auditlog.JSON(r))
		return nil
	}); err != nil {
		s.error(c, err)
		return
	}
	resp := gin.H{"records": out}
	if q.Limit > 0 && len(out) == q.Limit {
		resp["next"] = out[len(out)-1].Seq
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}
