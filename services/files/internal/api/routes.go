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
	// Uploads: a files:write token, or (without one) an open file request (Coffer-Request).
	upload := s.uploadAuth(write)

	r.POST("/v1/files", write, s.handleUpload())
	r.GET("/v1/files", read, s.handleList()) // ?limit=&cursor=&prefix=&shared=true&delimiter=/&q=
	r.GET("/v1/files/:id", read, s.handleGet())
	r.HEAD("/v1/files/:id", read, s.handleGet())
	r.GET("/v1/files/:id/content", read, s.handleContent())
	r.HEAD("/v1/files/:id/content", read, s.handleContent())
	r.DELETE("/v1/files/:id", write, s.handleDelete())
	// {"name": "new/path"} renames or moves; {"expires_at": time or null} sets the retention.
	r.PATCH("/v1/files/:id", write, s.handleUpdateFile())
	r.GET("/v1/zip", read, s.handleZip())                     // ?prefix=folder/ or ?id=&id=: a streamed zip
	r.GET("/v1/files/:id/activity", read, s.handleActivity()) // the owner's audit records of the file
	r.GET("/v1/usage", read, s.handleUsage())                 // the caller's bytes stored and quota (usage.go)

	r.POST("/v1/files/:id/shares", share, s.handleShare())
	r.DELETE("/v1/files/:id/shares/:user_id", share, s.handleUnshare())
	r.POST("/v1/files/:id/links", share, s.handleCreateLink())
	r.DELETE("/v1/files/:id/links/:link_id", share, s.handleRevokeLink())
	r.GET("/v1/files/:id/links", share, s.handleListLinks(true)) // ?limit=&cursor=
	r.GET("/v1/files/:id/shares", share, s.handleListShares())   // ?limit=&cursor=
	r.GET("/v1/links", share, s.handleListLinks(false))          // ?limit=&cursor=

	// File requests: upload-only links into the owner's space. The owner manages them; an
	// uploader reads what /v1/r/{short_id} shows and uploads through /v1/uploads/ with the
	// Coffer-Request header (see tus).
	r.POST("/v1/requests", share, s.handleCreateRequest())
	r.GET("/v1/requests", share, s.handleListRequests()) // ?limit=&cursor=
	r.GET("/v1/requests/:request_id", share, s.handleRequest("get"))
	r.POST("/v1/requests/:request_id/close", share, s.handleRequest("close"))
	r.DELETE("/v1/requests/:request_id", share, s.handleRequest("delete"))
	r.GET("/v1/requests/:request_id/files", share, s.handleRequestFiles()) // ?limit=&cursor=
	r.GET("/v1/r/:short_id", s.handleRequestInfo())

	// Resumable uploads (tus 1.0.0): /v1/uploads/{id} becomes /v1/files/{id} when complete.
	r.OPTIONS("/v1/uploads", s.handleTus())
	r.OPTIONS("/v1/uploads/", s.handleTus())
	r.POST("/v1/uploads", upload, s.handleTus())
	r.POST("/v1/uploads/", upload, s.handleTus())
	r.HEAD("/v1/uploads/:id", upload, s.handleTus())
	r.PATCH("/v1/uploads/:id", upload, s.handleTus())
	r.DELETE("/v1/uploads/:id", upload, s.handleTus())

	// Administration of webhooks (admin role required, as for admin.go's routes).
	admin := s.requireAdmin()
	r.POST("/v1/admin/webhooks", admin, s.webhooksOn, s.handleCreateWebhook())
	r.GET("/v1/admin/webhooks", admin, s.webhooksOn, s.handleListWebhooks())
	r.DELETE("/v1/admin/webhooks/:id", admin, s.webhooksOn, s.handleDeleteWebhook())
	r.GET("/v1/admin/webhook-deliveries", admin, s.webhooksOn, s.handleFailedDeliveries()) // failed ones
	r.POST("/v1/admin/webhook-deliveries/:id/retry", admin, s.webhooksOn, s.handleRetryDelivery())

	// Signed links authenticate by their token alone: no Authorization header.
	r.GET("/v1/links/:token", s.handleLinkDownload(false))
	r.HEAD("/v1/links/:token", s.handleLinkDownload(false))
	// Short links: the same, by a short id looked up in PostgreSQL; info is what their page shows.
	r.GET("/v1/s/:short_id", s.handleLinkDownload(true))
	r.HEAD("/v1/s/:short_id", s.handleLinkDownload(true))
	r.GET("/v1/s/:short_id/info", s.handleLinkInfo())

	// Administration (admin role required; admin.go).
	s.adminRoutes()
}
