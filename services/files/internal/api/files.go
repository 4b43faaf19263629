package api

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// fileJSON is a file as the API shows it.
type fileJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
	// ExpiresAt is when retention deletes the file; absent: kept until deleted.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// SharedBy is the owner's user id, on files others shared with the caller;
	// SharedByName the owner's username when they shared it, if their token named them.
	SharedBy     string `json:"shared_by,omitempty"`
	SharedByName string `json:"shared_by_name,omitempty"`
	// RequestID and UploaderName mark a file that arrived through a file request.
	RequestID    string `json:"request_id,omitempty"`
	UploaderName string `json:"uploader_name,omitempty"`
	// Status is available, pending_scan (not downloadable until the scanner passes it) or
	// rejected (StatusReason says why; the bytes are gone).
	Status       string `json:"status"`
	StatusReason string `json:"status_reason,omitempty"`
	// Shared and Linked, in the owner's listings, say that the file is shared with someone
	// or has an unexpired link (its row shows it).
	Shared bool `json:"shared,omitempty"`
	Linked bool `json:"linked,omitempty"`
}

// marker is what listings need of sharing to mark shared and linked rows (files.Sharing).
type marker interface {
	Marks(ctx context.Context, ownerID string, ids []uuid.UUID) (map[uuid.UUID]files.Marks, error)
}

// mark sets Shared and Linked on the caller's own files of a listing page. Marks are a
// convenience: a listing is still answered without them if they cannot be read.
func (s *Server) mark(c *gin.Context, list []fileJSON) {
	m, ok := s.opts.Shares.(marker)
	if !ok || len(list) == 0 {
		return
	}
	ids := make([]uuid.UUID, 0, len(list))
	for _, f := range list {
		if f.SharedBy == "" {
			ids = append(ids, uuid.MustParse(f.ID))
		}
	}
	marks, err := m.Marks(c.Request.Context(), owner(c), ids)
	if err != nil {
		s.logger.WarnContext(c.Request.Context(), "file marks", "err", err)
		return
	}
	for i := range list {
		if mk, ok := marks[uuid.MustParse(list[i].ID)]; ok {
			list[i].Shared, list[i].Linked = mk.Shared, mk.Linked
		}
	}
}

func toJSON(f files.File) fileJSON {
	j := fileJSON{ID: f.ID.String(), Name: f.Name, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256), ContentType: f.ContentType, CreatedAt: f.CreatedAt,
		Status: cmp.Or(f.Status, files.StatusAvailable), StatusReason: f.StatusReason, ExpiresAt: f.ExpiresAt, UploaderName: f.UploaderName}
	if f.RequestID != nil {
		j.RequestID = f.RequestID.String()
	}
	return j
}

func (s *Server) handleList() gin.HandlerFunc {
	type response struct {
		Files      []fileJSON `json:"files"`
		NextCursor *string    `json:"next_cursor"`
	}
	return func(c *gin.Context) {
		if s.listFolders(c) { // delimiter=/ or q= (folders.go)
			return
		}
		sort, err := listSort(c)
		if err != nil {
			s.error(c, err)
			return
		}
		opts, err := listOptions(c)
		if err != nil {
			s.error(c, err)
			return
		}
		opts.Sort = sort
		var page files.Page
		switch c.Query("shared") {
		case "", "false":
			page, err = s.files.List(c.Request.Context(), owner(c), opts)
		case "true":
			if s.opts.Shares == nil {
				err = files.ErrNotFound
				break
			}
			if sort != (files.Sort{}) {
				err = fmt.Errorf("%w: shared listings are newest first", files.ErrBadSort)
				break
			}
			page, err = s.opts.Shares.ListShared(c.Request.Context(), owner(c), opts)
		default:
			err = files.Invalid("shared must be true or false")
		}
		if err != nil {
			s.error(c, err)
			return
		}
		out := response{Files: make([]fileJSON, 0, len(page.Files))}
		for _, f := range page.Files {
			j := toJSON(f)
			if f.OwnerID != owner(c) {
				j.SharedBy, j.SharedByName = f.OwnerID, f.SharerName // "shared with me" shows who shared each file
			}
			out.Files = append(out.Files, j)
		}
		s.mark(c, out.Files)
		if page.NextCursor != "" {
			out.NextCursor = &page.NextCursor
		}
		c.Header("Cache-Control", "private, no-store")
		c.JSON(http.StatusOK, out)
	}
}

// servePage answers one page of a list: the paging parameters from the query, list's items
// under key and next_cursor (null on the last page), or list's error through the one error
// map. Every paged list of the API answers through it.
func servePage[T, J any](s *Server, c *gin.Context, key string, list func(context.Context, files.ListOptions) ([]T, string, error), toJSON func(T) J) {
	opts, err := listOptions(c)
	if err != nil {
		s.error(c, err)
		return
	}
	items, next, err := list(c.Request.Context(), opts)
	if err != nil {
		s.error(c, err)
		return
	}
	out := make([]J, 0, len(items))
	for _, it := range items {
		out = append(out, toJSON(it))
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	c.Header("Cache-Control", "private, no-store")
	c.JSON(http.StatusOK, gin.H{key: out, "next_cursor": cursor})
}

// listSort reads ?sort=name|size|modified&order=asc|desc (files.ParseSort).
func listSort(c *gin.Context) (files.Sort, error) {
	return files.ParseSort(c.Query("sort"), c.Query("order"))
}

// listOptions reads the paging parameters every listing takes: ?limit=&cursor=&prefix=.
func listOptions(c *gin.Context) (files.ListOptions, error) {
	opts := files.ListOptions{Cursor: c.Query("cursor"), Prefix: c.Query("prefix")}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return opts, files.Invalid("limit must be a number")
		}
		opts.Limit = n
	}
	return opts, nil
}

func (s *Server) handleGet() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil {
			s.error(c, err)
			return
		}
		f, err := s.files.Get(c.Request.Context(), owner(c), id)
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "private, no-cache")
		c.JSON(http.StatusOK, toJSON(f))
	}
}

func (s *Server) handleDelete() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil {
			s.error(c, err)
			return
		}
		if err := s.files.Delete(c.Request.Context(), owner(c), id); err != nil {
			s.error(c, err)
			return
		}
		s.record(c, AuditDelete, id.String(), nil)
		c.Status(http.StatusNoContent)
	}
}
