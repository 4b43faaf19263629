package api

import "github.com/cofferhq/coffer/pkg/accesstoken"

// routes lists the whole API of the file service.
func (s *Server) routes() {
	r := s.engine
	r.GET("/healthz", s.handleHealthz())
	r.GET("/readyz", s.handleReadyz())

	read := s.authenticate(accesstoken.ScopeFilesRead)
	write := s.authenticate(accesstoken.ScopeFilesWrite)

	r.POST("/v1/files", write, s.handleUpload())
	r.GET("/v1/files", read, s.handleList())
	r.GET("/v1/files/:id", read, s.handleGet())
	r.HEAD("/v1/files/:id", read, s.handleGet())
	r.GET("/v1/files/:id/content", read, s.handleContent())
	r.HEAD("/v1/files/:id/content", read, s.handleContent())
	r.DELETE("/v1/files/:id", write, s.handleDelete())
}
