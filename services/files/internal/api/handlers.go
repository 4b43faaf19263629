package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

const claimsKey = "coffer.claims"

// authenticate verifies the bearer token and requires scope. Tokens are accepted only in the
// Authorization header, never in the query string.
func (s *Server) authenticate(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		scheme, raw, ok := strings.Cut(h, " ")
		if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
			s.unauthorized(c, "", "a bearer access token is required")
			return
		}
		claims, err := s.verifier.Verify(c.Request.Context(), strings.TrimSpace(raw))
		if errors.Is(err, tokenauth.ErrNotReady) {
			s.error(c, err)
			return
		}
		if err != nil {
			s.logger.DebugContext(c.Request.Context(), "token rejected", "err", err)
			s.unauthorized(c, codeInvalidToken, "the access token is invalid or expired")
			return
		}
		if !claims.HasScope(scope) {
			p := problem.New(http.StatusForbidden, codeInsufficientScope, "the access token lacks the "+scope+" scope")
			p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer", error="insufficient_scope", scope="` + scope + `"`}}
			s.problem(c, p)
			return
		}
		c.Set(claimsKey, claims)
		c.Next()
	}
}

func owner(c *gin.Context) string {
	return c.MustGet(claimsKey).(*accesstoken.Claims).Subject
}

// fileID parses the :id parameter. A malformed id is answered exactly like an unknown one.
func fileID(c *gin.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil || len(c.Param("id")) != 36 {
		return uuid.UUID{}, files.ErrNotFound
	}
	return id, nil
}

func (s *Server) handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }
}

func (s *Server) handleReadyz() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready.Ready(ctx); err != nil {
			s.problem(c, problem.New(http.StatusServiceUnavailable, "not_ready", err.Error()))
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}

// fileJSON is a file as the API shows it.
type fileJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
}

func toJSON(f files.File) fileJSON {
	return fileJSON{ID: f.ID.String(), Name: f.Name, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256), ContentType: f.ContentType, CreatedAt: f.CreatedAt}
}

// multipartOverhead is what a multipart body may add to the file it carries.
const multipartOverhead = 64 << 10

func (s *Server) handleUpload() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		max := s.files.MaxFileSize()
		mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		isMultipart := mediaType == "multipart/form-data"
		limit := max
		if isMultipart {
			limit += multipartOverhead
		}
		if r.ContentLength > limit {
			s.error(c, files.ErrTooLarge)
			return
		}
		r.Body = idleReader{ReadCloser: http.MaxBytesReader(c.Writer, r.Body, limit), rc: http.NewResponseController(c.Writer), idle: s.opts.UploadIdleTimeout}

		req := files.UploadRequest{OwnerID: owner(c)}
		if isMultipart {
			part, err := filePart(r, params["boundary"])
			if err != nil {
				s.error(c, err)
				return
			}
			req.Name, req.Body = part.FileName(), part
			if n := c.Query("name"); n != "" {
				req.Name = n
			}
			req.ContentType = part.Header.Get("Content-Type")
		} else {
			req.Name, req.Body, req.ContentType = c.Query("name"), r.Body, r.Header.Get("Content-Type")
			for _, h := range []string{"Content-Digest", "Repr-Digest"} {
				sum, err := parseDigest(r.Header.Get(h))
				if err != nil {
					s.error(c, err)
					return
				}
				if sum != nil {
					req.WantSHA256 = sum
				}
			}
		}
		if ct, _, err := mime.ParseMediaType(req.ContentType); err == nil {
			req.ContentType = ct
		} else {
			req.ContentType = ""
		}
		req.Body = bodyReader{req.Body}
		if !isMultipart && r.ContentLength > 0 {
			req.SizeHint = r.ContentLength
		}
		f, err := s.opts.Uploads.Upload(r.Context(), req)
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Location", "/v1/files/"+f.ID.String())
		c.Header("Repr-Digest", formatDigest(f.SHA256))
		c.JSON(http.StatusCreated, toJSON(f))
	}
}

// idleReader requires each read of an upload body to make progress within idle, so a client
// that goes silent cannot hold an upload (and its quota reservation) open for ever.
type idleReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	_ = r.rc.SetReadDeadline(time.Now().Add(r.idle)) // a writer without deadlines keeps none
	return r.ReadCloser.Read(p)
}

// bodyReader marks a failure to read the request body (a truncated multipart body, a
// client that hung up or went silent) as bad input, not a server fault; the size limit keeps
// its own error.
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var maxBytes *http.MaxBytesError
	if err != nil && err != io.EOF && !errors.As(err, &maxBytes) {
		err = fmt.Errorf("%w: the request body could not be read (%v)", files.ErrInvalidInput, err)
	}
	return n, err
}

// maxSkippedParts bounds how many non-file parts a multipart upload may carry.
const maxSkippedParts = 16

// filePart streams a multipart body up to its "file" part. Other parts are skipped but
// bounded in number, so a form of thousands of parts is refused quickly.
func filePart(r *http.Request, boundary string) (*multipart.Part, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, fmt.Errorf("%w: multipart body needs a valid boundary", files.ErrInvalidInput)
	}
	mr := multipart.NewReader(r.Body, boundary)
	for i := 0; ; i++ {
		if i > maxSkippedParts {
			return nil, fmt.Errorf("%w: too many form parts before the file part", files.ErrInvalidInput)
		}
		part, err := mr.NextPart()
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return nil, err
		}
		if err == io.EOF {
			return nil, fmt.Errorf("%w: multipart body has no \"file\" part", files.ErrInvalidInput)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: malformed multipart body", files.ErrInvalidInput)
		}
		if part.FormName() == "file" {
			return part, nil
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(part, 64<<10)); err != nil {
			return nil, fmt.Errorf("%w: malformed multipart body", files.ErrInvalidInput)
		}
	}
}

func (s *Server) handleList() gin.HandlerFunc {
	type response struct {
		Files      []fileJSON `json:"files"`
		NextCursor *string    `json:"next_cursor"`
	}
	return func(c *gin.Context) {
		opts := files.ListOptions{Cursor: c.Query("cursor"), Prefix: c.Query("prefix")}
		if l := c.Query("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil {
				s.error(c, fmt.Errorf("%w: limit must be a number", files.ErrInvalidInput))
				return
			}
			opts.Limit = n
		}
		var page files.Page
		var err error
		switch c.Query("shared") {
		case "", "false":
			page, err = s.files.List(c.Request.Context(), owner(c), opts)
		case "true":
			if s.opts.Shares == nil {
				err = files.ErrNotFound
				break
			}
			page, err = s.opts.Shares.ListShared(c.Request.Context(), owner(c), opts)
		default:
			err = fmt.Errorf("%w: shared must be true or false", files.ErrInvalidInput)
		}
		if err != nil {
			s.error(c, err)
			return
		}
		out := response{Files: make([]fileJSON, 0, len(page.Files))}
		for _, f := range page.Files {
			out.Files = append(out.Files, toJSON(f))
		}
		if page.NextCursor != "" {
			out.NextCursor = &page.NextCursor
		}
		c.Header("Cache-Control", "private, no-store")
		c.JSON(http.StatusOK, out)
	}
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

func (s *Server) handleContent() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := fileID(c)
		if err != nil {
			s.error(c, err)
			return
		}
		f, blob, err := s.files.Open(c.Request.Context(), owner(c), id)
		if err != nil {
			s.error(c, err)
			return
		}
		defer blob.Close()
		serveBlob(c, f, blob, "private, no-cache")
	}
}

// Bounds on the Range header a download honours.
const (
	maxRanges      = 64
	maxRangeHeader = 4096
)

// serveBlob sends a file's bytes with the headers a download needs. http.ServeContent does
// HEAD, single, suffix and multiple ranges, If-Range, If-None-Match, If-Modified-Since and 416.
func serveBlob(c *gin.Context, f files.File, blob files.Blob, cacheControl string) {
	h := c.Writer.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("ETag", etag(f.SHA256))
	h.Set("Repr-Digest", formatDigest(f.SHA256))
	h.Set("Content-Disposition", contentDisposition(f.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	// Uploaded HTML or SVG opened directly still cannot run script or reach the origin.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", cacheControl)
	// net/http ignores a Range whose parts add up to more than the file, but not one of
	// thousands of tiny parts, each of which costs a multipart header: past maxRanges the
	// whole file is sent instead, as RFC 9110 section 14.2 allows.
	if rg := c.Request.Header.Get("Range"); len(rg) > maxRangeHeader || strings.Count(rg, ",") >= maxRanges {
		c.Request.Header.Del("Range")
	} else if rg != "" {
		c.Request.Header.Set("Range", normalizeRange(rg, f.Size))
	}
	http.ServeContent(sendfileWriter{c.Writer}, c.Request, "", f.CreatedAt, blob)
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
		c.Status(http.StatusNoContent)
	}
}
