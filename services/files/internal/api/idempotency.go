package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/files/internal/digest"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Idempotency finds the file an upload's Idempotency-Key names (files.IdempotencyStore).
type Idempotency interface {
	FileByIdempotencyKey(ctx context.Context, ownerID, key string) (files.File, error)
}

// idempotencyKey reads the Idempotency-Key header of the IETF httpapi draft: a structured
// string ("...") or, as clients also send, the bare key. "" when there is none (or the server
// keeps no keys).
func (s *Server) idempotencyKey(c *gin.Context) (string, error) {
	if s.opts.Idempotency == nil {
		return "", nil
	}
	return files.ParseIdempotencyKey(c.Request.Header["Idempotency-Key"])
}

// replayUpload answers an upload whose key already names a stored file of the caller with
// that file, as the first upload was answered, and reports whether it did. The body is not
// read: nothing more is stored.
func (s *Server) replayUpload(c *gin.Context, key string) bool {
	f, err := s.opts.Idempotency.FileByIdempotencyKey(c.Request.Context(), owner(c), key)
	if errors.Is(err, files.ErrNotFound) {
		return false
	}
	if err != nil {
		s.error(c, err)
		return true
	}
	c.Header("Idempotent-Replayed", "true")
	c.Header("Location", "/v1/files/"+f.ID.String())
	c.Header("Repr-Digest", digest.Format(f.SHA256))
	c.JSON(http.StatusCreated, toJSON(f))
	return true
}
