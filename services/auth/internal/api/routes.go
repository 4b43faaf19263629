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

	// Public documents and the token and revocation endpoints answer CORS for the browser
	// origins registered clients list (cors.go), preflights included.
	r.GET("/.well-known/jwks.json", s.cors("GET"), s.handleJWKS())
	r.OPTIONS("/.well-known/jwks.json", s.cors("GET"))
	r.GET("/.well-known/openid-configuration", s.cors("GET"), s.handleDiscovery())
	r.OPTIONS("/.well-known/openid-configuration", s.cors("GET"))
	r.GET("/.well-known/oauth-authorization-server", s.cors("GET"), s.handleDiscovery())
	r.OPTIONS("/.well-known/oauth-authorization-server", s.cors("GET"))

	r.POST("/v1/users", s.handleSignUp())
	r.POST("/v1/login", s.handleLogin())
	// For resource servers acting for a user: a username to the id their tokens carry.
	r.GET("/v1/users/:username", s.authenticate(accesstoken.ScopeFilesShare), s.handleLookupUser())
	// Who a token belongs to, for a page's header (me.go); CORS for the web page's origin.
	r.GET("/v1/me", s.cors("GET"), s.authenticate(accesstoken.ScopeFilesRead), s.handleMe())
	r.OPTIONS("/v1/me", s.cors("GET"))

	// OAuth 2.0 (RFC 6749 form encoding and JSON errors, RFC 7009 revocation).
	r.POST("/oauth2/token", s.cors("POST"), s.handleToken())
	r.OPTIONS("/oauth2/token", s.cors("POST"))
	r.POST("/oauth2/revoke", s.cors("POST"), s.handleRevoke())
	r.OPTIONS("/oauth2/revoke", s.cors("POST"))

	// The authorization code grant's sign-in pages (HTML; authorize.go).
	r.GET("/oauth2/authorize", s.handleAuthorize())
	r.POST("/oauth2/authorize", s.handleAuthorize())
	r.GET("/oauth2/logout", s.handleLogout())  // a confirmation form while signed in
	r.POST("/oauth2/logout", s.handleLogout()) // the form, with its CSRF token

	// Identity (account.go, account_pages.go, upstream_pages.go): a person's own account,
	// as JSON for Coffer's first-party clients and as pages under the sign-in session;
	// upstream OpenID providers; invitation and password-reset links.
	acct := r.Group("/v1/account", s.accountAuth())
	acct.GET("", s.handleAccount())
	acct.POST("/password", s.handleChangePassword())
	acct.GET("/sessions", s.handleListSignIns())
	acct.DELETE("/sessions/:id", s.handleEndSignIn())
	acct.POST("/totp", s.handleStartTOTP())
	acct.POST("/totp/confirm", s.handleConfirmTOTP())
	acct.DELETE("/totp", s.handleDisableTOTP())
	r.GET("/oauth2/account", s.handleAccountPage())
	r.POST("/oauth2/account/signin", s.handleAccountSignIn())
	r.POST("/oauth2/account/totp", s.handleAccountTOTPStart())
	r.POST("/oauth2/account/totp/confirm", s.handleAccountTOTPConfirm())
	r.POST("/oauth2/account/password", s.handleAccountPassword())
	r.POST("/oauth2/account/sessions/end", s.handleAccountEndSession())
	r.GET("/oauth2/upstream/start/:provider", s.handleUpstreamStart())
	r.GET(UpstreamCallbackPath, s.handleUpstreamCallback())
	r.POST("/oauth2/upstream/mfa", s.handleUpstreamMFA())
	r.GET("/oauth2/invitation", s.handleInvitationPage())
	r.POST("/oauth2/invitation", s.handleInvitationAccept())

	// Administration (admin role required; admin.go).
	s.adminRoutes()
}
