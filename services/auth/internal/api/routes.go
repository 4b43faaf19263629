package api

import (
	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/openapi"
)

// routes lists the whole API of the auth service.
func (s *Server) routes() {
	r := s.engine
	r.GET("/healthz", s.handleHealthz())
	r.GET("/readyz", s.handleReadyz())
	r.GET("/openapi.json", openapi.Handler(openAPI))

	r.GET("/.well-known/jwks.json", s.handleJWKS())
	r.GET("/.well-known/openid-configuration", s.handleDiscovery())
	r.GET("/.well-known/oauth-authorization-server", s.handleDiscovery())

	r.POST("/v1/users", s.handleSignUp())
	r.POST("/v1/login", s.handleLogin())
	// For resource servers acting for a user: a username to the id their tokens carry.
	r.GET("/v1/users/:username", s.authenticate(accesstoken.ScopeFilesShare), s.handleLookupUser())

	// OAuth 2.0 (RFC 6749 form encoding and JSON errors, RFC 7009 revocation).
	r.POST("/oauth2/token", s.handleToken())
	r.POST("/oauth2/revoke", s.handleRevoke())
}
