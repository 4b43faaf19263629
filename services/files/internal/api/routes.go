package api

import (
	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/openapi"
)

// routes lists the whole API of the file service.
func (s *Server) routes() {
	r := s.engine
	r.GET("/healthz", s.handleHealthz())
	r.GET("/readyz", s.handleReadyz())
	r.GET("/openapi.json", openapi.Handler(openAPI))

	read := s.authenticate(accesstoken.ScopeFilesRead)
	write := s.authenticate(accesstoken.ScopeFilesWrite)
	share := s.authenticate(accesstoken.ScopeFilesShare)

	r.POST("/v1/files", write, s.handleUpload())
	r.GET("/v1/files", read, s.handleList()) // ?limit=&cursor=&prefix=&shared=true&delimiter=/&q=
	r.GET("/v1/files/:id", read, s.handleGet())
	r.HEAD("/v1/files/:id", read, s.handleGet())
	r.GET("/v1/files/:id/content", read, s.handleContent())
	r.HEAD("/v1/files/:id/content", read, s.handleContent())
	r.DELETE("/v1/files/:id", write, s.handleDelete())
	r.PATCH("/v1/files/:id", write, s.handleRename()) // {"name": "new/path"}: rename or move
	r.GET("/v1/zip", read, s.handleZip())
	r.GET("/v1/files/:id/activity", read, s.handleActivity()) // the owner's audit records of the file             // ?prefix=folder/ or ?id=&id=: a streamed zip

	r.POST("/v1/files/:id/shares", share, s.handleShare())
	r.DELETE("/v1/files/:id/shares/:user_id", share, s.handleUnshare())
	r.POST("/v1/files/:id/links", share, s.handleCreateLink())
	r.DELETE("/v1/files/:id/links/:link_id", share, s.handleRevokeLink())

	// Resumable uploads (tus 1.0.0): /v1/uploads/{id} becomes /v1/files/{id} when complete.
	r.OPTIONS("/v1/uploads", s.handleTus())
	r.OPTIONS("/v1/uploads/", s.handleTus())
	r.POST("/v1/uploads", write, s.handleTus())
	r.POST("/v1/uploads/", write, s.handleTus())
	r.HEAD("/v1/uploads/:id", write, s.handleTus())
	r.PATCH("/v1/uploads/:id", write, s.handleTus())
	r.DELETE("/v1/uploads/:id", write, s.handleTus())

	// Administration of webhooks (admin role required, as for admin.go's routes).
	admin := s.requireAdmin()
	r.POST("/v1/admin/webhooks", admin, s.webhooksOn, s.handleCreateWebhook())
	r.GET("/v1/admin/webhooks", admin, s.webhooksOn, s.handleListWebhooks())
	r.DELETE("/v1/admin/webhooks/:id", admin, s.webhooksOn, s.handleDeleteWebhook())
	r.GET("/v1/admin/webhook-deliveries", admin, s.webhooksOn, s.handleFailedDeliveries()) // failed ones
	r.POST("/v1/admin/webhook-deliveries/:id/retry", admin, s.webhooksOn, s.handleRetryDelivery())

	// Signed links authenticate by their token alone: no Authorization header.
	r.GET("/v1/links/:token", s.handleLinkDownload())
	r.HEAD("/v1/links/:token", s.handleLinkDownload())

	// Administration (admin role required; admin.go).
	s.adminRoutes()
}
