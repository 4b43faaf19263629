package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/digest"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

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
		key, err := s.idempotencyKey(c) // idempotency.go
		if err != nil {
			s.error(c, err)
			return
		}
		if key != "" && s.replayUpload(c, key) {
			return
		}
		r.Body = idleReader{ReadCloser: http.MaxBytesReader(c.Writer, r.Body, limit), rc: http.NewResponseController(c.Writer), idle: s.opts.UploadIdleTimeout}

		req := files.UploadRequest{OwnerID: owner(c), IdempotencyKey: key}
		if req.ExpiresIn, err = files.ParseExpiresIn(c.Query("expires_in")); err != nil {
			s.error(c, err)
			return
		}
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
				sum, err := digest.Parse(r.Header.Get(h))
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
		if errors.Is(err, files.ErrKeyUsed) && s.replayUpload(c, key) {
			return // a request with the same key committed first
		}
		if err != nil {
			s.error(c, err)
			return
		}
		s.record(c, AuditUpload, f.ID.String(), map[string]string{"name": f.Name, "size": strconv.FormatInt(f.Size, 10)})
		c.Header("Location", "/v1/files/"+f.ID.String())
		c.Header("Repr-Digest", digest.Format(f.SHA256))
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
		// The cause is for logs only (and not wrapped: a network error here is the client's).
		err = fmt.Errorf("%w (%v)", files.Invalid("the request body could not be read"), err)
	}
	return n, err
}

// maxSkippedParts bounds how many non-file parts a multipart upload may carry.
const maxSkippedParts = 16

// filePart streams a multipart body up to its "file" part. Other parts are skipped but
// bounded in number, so a form of thousands of parts is refused quickly.
func filePart(r *http.Request, boundary string) (*multipart.Part, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, files.Invalid("multipart body needs a valid boundary")
	}
	mr := multipart.NewReader(r.Body, boundary)
	for i := 0; ; i++ {
		if i > maxSkippedParts {
			return nil, files.Invalid("too many form parts before the file part")
		}
		part, err := mr.NextPart()
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return nil, err
		}
		if err == io.EOF {
			return nil, files.Invalid("multipart body has no \"file\" part")
		}
		if err != nil {
			return nil, files.Invalid("malformed multipart body")
		}
		if part.FormName() == "file" {
			return part, nil
		}
		if _, err := io.Copy(io.Discard, io.LimitReader(part, 64<<10)); err != nil {
			return nil, files.Invalid("malformed multipart body")
		}
	}
}
