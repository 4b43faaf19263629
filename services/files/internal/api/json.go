package api

import (
	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/jsonbody"
)

// decode reads a JSON request body into a T, bounded in size, rejecting unknown fields and
// trailing data (pkg/jsonbody, as in the auth service).
func decode[T any](s *Server, c *gin.Context) (T, error) {
	return jsonbody.Decode[T](c.Writer, c.Request, s.opts.MaxJSONBytes)
}
