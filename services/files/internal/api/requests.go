package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Requests is what the API needs for file requests (files.Requests).
type Requests interface {
	Create(ctx context.Context, ownerID string, o files.RequestOptions) (files.Request, error)
	Get(ctx context.Context, ownerID string, id uuid.UUID) (files.Request, error)
	List(ctx context.Context, ownerID string, opts files.ListOptions) (files.RequestPage, error)
	Files(ctx context.Context, ownerID string, id uuid.UUID, opts files.ListOptions) (files.Page, error)
	Close(ctx context.Context, ownerID string, id uuid.UUID) (files.Request, error)
	Delete(ctx context.Context, ownerID string, id uuid.UUID) error
	Admit(ctx context.Context, shortID, password string) (files.Request, error)
}

// requestsPrefix starts the public path of a file request, whose next segment is its short id.
const requestsPrefix = "/v1/r/"

// requestJSON is a file request as its owner sees it.
type requestJSON struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Message     string     `json:"message"`
	URL         string     `json:"url"`
	PageURL     string     `json:"page_url,omitempty"`
	ExpiresAt   time.Time  `json:"expires_at"`
	MaxFiles    *int       `json:"max_files,omitempty"`
	MaxBytes    *int64     `json:"max_bytes,omitempty"`
	RequireName bool       `json:"require_name"`
	Password    bool       `json:"password"`
	FilesUsed   int        `json:"files_used"`
	BytesUsed   int64      `json:"bytes_used"`
	Open        bool       `json:"open"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

func (s *Server) requestJSON(r files.Request) requestJSON {
	out := requestJSON{
		ID: r.ID.String(), Title: r.Title, Message: r.Message, URL: s.opts.PublicURL + requestsPrefix + r.ShortID,
		ExpiresAt: r.ExpiresAt, MaxFiles: r.MaxFiles, MaxBytes: r.MaxBytes, RequireName: r.RequireName,
		Password: r.HasPassword(), FilesUsed: r.FilesUsed, BytesUsed: r.BytesUsed, Open: r.Open(time.Now()),
		ClosedAt: r.ClosedAt, CreatedAt: r.CreatedAt,
	}
	if s.opts.WebURL != "" {
		out.PageURL = s.opts.WebURL + "/r/" + r.ShortID
	}
	return out
}

func requestID(c *gin.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("request_id"))
	if err != nil || len(c.Param("request_id")) != 36 {
		return uuid.UUID{}, files.ErrNotFound
	}
	return id, nil
}

func (s *Server) handleCreateRequest() gin.HandlerFunc {
	type request struct {
		Title       string `json:"title"`
		Message     string `json:"message"`
		ExpiresIn   int64  `json:"expires_in"`
		MaxFiles    *int   `json:"max_files,omitempty"`
		MaxBytes    *int64 `json:"max_bytes,omitempty"`
		Password    string `json:"password,omitempty"`
		RequireName bool   `json:"require_name"`
	}
	return func(c *gin.Context) {
		if s.opts.Requests == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		r, err := s.opts.Requests.Create(c.Request.Context(), owner(c), files.RequestOptions{
			Title: req.Title, Message: req.Message, TTL: time.Duration(min(max(req.ExpiresIn, 0), 1<<31)) * time.Second,
			MaxFiles: req.MaxFiles, MaxBytes: req.MaxBytes, Password: req.Password, RequireName: req.RequireName,
		})
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Header("Location", "/v1/requests/"+r.ID.String())
		c.JSON(http.StatusCreated, s.requestJSON(r))
	}
}

func (s *Server) handleListRequests() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.opts.Requests == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		servePage(s, c, "requests", func(ctx context.Context, opts files.ListOptions) ([]files.Request, string, error) {
			page, err := s.opts.Requests.List(ctx, owner(c), opts)
			return page.Requests, page.NextCursor, err
		}, s.requestJSON)
	}
}

// handleRequest serves GET (the request), POST .../close and DELETE of one of the caller's
// requests; another user's answers 404.
func (s *Server) handleRequest(op string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := requestID(c)
		if err != nil || s.opts.Requests == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		ctx := c.Request.Context()
		var r files.Request
		switch op {
		case "get":
			r, err = s.opts.Requests.Get(ctx, owner(c), id)
		case "close":
			r, err = s.opts.Requests.Close(ctx, owner(c), id)
		case "delete":
			if err = s.opts.Requests.Delete(ctx, owner(c), id); err == nil {
				c.Status(http.StatusNoContent)
				return
			}
		}
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "private, no-store")
		c.JSON(http.StatusOK, s.requestJSON(r))
	}
}

// handleRequestFiles lists what arrived through one of the caller's requests.
func (s *Server) handleRequestFiles() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := requestID(c)
		if err != nil || s.opts.Requests == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		servePage(s, c, "files", func(ctx context.Context, opts files.ListOptions) ([]files.File, string, error) {
			page, err := s.opts.Requests.Files(ctx, owner(c), id, opts)
			return page.Files, page.NextCursor, err
		}, toJSON)
	}
}

// handleRequestInfo is what a request's public page shows an uploader (no account; the
// request's password in Coffer-Link-Password when it has one): its title and message, what it
// still takes, and where to upload. A closed, expired or unknown request, or a wrong
// password, is 404.
func (s *Server) handleRequestInfo() gin.HandlerFunc {
	type response struct {
		Title       string    `json:"title"`
		Message     string    `json:"message"`
		ExpiresAt   time.Time `json:"expires_at"`
		RequireName bool      `json:"require_name"`
		FilesLeft   *int      `json:"files_left,omitempty"`
		BytesLeft   *int64    `json:"bytes_left,omitempty"`
		MaxFileSize int64     `json:"max_file_size"`
		UploadURL   string    `json:"upload_url"`
	}
	return func(c *gin.Context) {
		c.Header("Referrer-Policy", "no-referrer")
		if s.opts.Requests == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		r, err := s.opts.Requests.Admit(c.Request.Context(), c.Param("short_id"), c.GetHeader(linkPasswordHeader))
		if err != nil {
			s.error(c, err)
			return
		}
		out := response{Title: r.Title, Message: r.Message, ExpiresAt: r.ExpiresAt, RequireName: r.RequireName,
			MaxFileSize: s.files.MaxFileSize(), UploadURL: s.opts.PublicURL + "/v1/uploads/"}
		if r.MaxFiles != nil {
			n := max(*r.MaxFiles-r.FilesUsed, 0)
			out.FilesLeft = &n
		}
		if r.MaxBytes != nil {
			n := max(*r.MaxBytes-r.BytesUsed, 0)
			out.BytesLeft = &n
		}
		c.Header("Cache-Control", "private, no-store")
		c.JSON(http.StatusOK, out)
	}
}
