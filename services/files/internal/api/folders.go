package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Folders is what the API needs for folders, search, moves and zips (files.Folders).
type Folders interface {
	ListLevel(ctx context.Context, ownerID string, opts files.LevelOptions) (files.LevelPage, error)
	Search(ctx context.Context, ownerID string, opts files.SearchOptions) (files.Page, error)
	Rename(ctx context.Context, ownerID string, id uuid.UUID, name string) (files.File, error)
	Walk(ctx context.Context, ownerID, prefix string, fn func(files.File) error) error
	OpenBlob(ctx context.Context, f files.File) (files.Blob, error)
}

// folderJSON is a folder of a level listing: the common prefix of the names below it.
type folderJSON struct {
	Name string `json:"name"` // the full prefix, ending in "/"
}

// listFolders answers GET /v1/files with delimiter=/ (one folder level, as S3's
// ListObjectsV2 does) or q= (search in a folder and below). It reports whether it answered.
func (s *Server) listFolders(c *gin.Context) bool {
	delim, hasDelim := c.GetQuery("delimiter")
	q, hasQ := c.GetQuery("q")
	if !hasDelim && !hasQ {
		return false
	}
	type response struct {
		Files      []fileJSON   `json:"files"`
		Folders    []folderJSON `json:"folders,omitempty"`
		NextCursor *string      `json:"next_cursor"`
	}
	var err error
	limit := 0
	if l := c.Query("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil {
			s.error(c, files.Invalid("limit must be a number"))
			return true
		}
	}
	sort, sortErr := listSort(c)
	switch {
	case sortErr != nil:
		err = sortErr
	case hasQ && sort != (files.Sort{}) && sort != (files.Sort{Key: files.SortName}):
		err = fmt.Errorf("%w: search lists names in order", files.ErrBadSort)
	case s.opts.Folders == nil:
		err = files.ErrNotFound
	case c.Query("shared") == "true":
		err = files.Invalid("shared listings have no folders or search")
	case hasDelim && delim != files.Delimiter:
		err = files.Invalid("delimiter must be %q", files.Delimiter)
	case hasDelim && hasQ:
		err = files.Invalid("search (q) lists every folder below prefix; it takes no delimiter")
	}
	if err != nil {
		s.error(c, err)
		return true
	}
	ctx, ownerID := c.Request.Context(), owner(c)
	out := response{Files: []fileJSON{}}
	var next string
	if hasQ {
		var p files.Page
		p, err = s.opts.Folders.Search(ctx, ownerID, files.SearchOptions{Prefix: c.Query("prefix"), Query: q, Limit: limit, Cursor: c.Query("cursor")})
		for _, f := range p.Files {
			out.Files = append(out.Files, toJSON(f))
		}
		next = p.NextCursor
	} else {
		var p files.LevelPage
		p, err = s.opts.Folders.ListLevel(ctx, ownerID, files.LevelOptions{Prefix: c.Query("prefix"), Limit: limit, Cursor: c.Query("cursor"), Sort: sort})
		for _, f := range p.Files {
			out.Files = append(out.Files, toJSON(f))
		}
		out.Folders = make([]folderJSON, 0, len(p.Folders))
		for _, name := range p.Folders {
			out.Folders = append(out.Folders, folderJSON{Name: name})
		}
		next = p.NextCursor
	}
	if err != nil {
		s.error(c, err)
		return true
	}
	s.mark(c, out.Files)
	if next != "" {
		out.NextCursor = &next
	}
	c.Header("Cache-Control", "private, no-store")
	c.JSON(http.StatusOK, out)
	return true
}

// PATCH /v1/files/{id} {"name": "new/path.txt"} (a rename, or a move to another folder) is
// served by handleUpdateFile (retention.go), which also sets expiries.
