package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/problem"
)

// decode reads a JSON request body into a T, bounded in size, rejecting unknown fields and
// trailing data.
func decode[T any](s *Server, c *gin.Context) (T, error) {
	var v T
	if c.ContentType() != "application/json" {
		return v, problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxJSONBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return v, err
		}
		return v, problem.New(http.StatusBadRequest, "invalid_json", "request body is not the expected JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return v, problem.New(http.StatusBadRequest, "invalid_json", "request body has data after the JSON object")
	}
	return v, nil
}
