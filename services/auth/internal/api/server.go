// Package api is the auth service's HTTP interface: sign-up, login, the OAuth 2.0
// authorization endpoint (an HTML sign-in page), token and revocation endpoints, the JWK Set
// and discovery documents, and CORS for registered browser origins. routes.go lists every
// route.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/httplog"
	"github.com/cofferhq/coffer/pkg/jsonbody"
	"github.com/cofferhq/coffer/pkg/metrics"
	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/pkg/safetext"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// Accounts is what the API needs of the domain service.
type Accounts interface {
	SignUp(ctx context.Context, username, password string) (auth.User, error)
	Login(ctx context.Context, req auth.LoginRequest) (auth.TokenResponse, error)
	RefreshAs(ctx context.Context, client auth.ClientAuth, refreshToken string, scopes []string) (auth.TokenResponse, error)
	ClientCredentials(ctx context.Context, clientID, secret string, scopes []string) (auth.TokenResponse, error)
	Revoke(ctx context.Context, token string) error
	// LookupUser returns the enabled user with that username; auth.ErrNotFound otherwise.
	LookupUser(ctx context.Context, username string) (auth.User, error)
	Authorizer
}

// Authorizer is what the authorization endpoint and the code grant need of the domain.
type Authorizer interface {
	CheckAuthorize(ctx context.Context, p auth.AuthorizeParams) (auth.AuthorizeRequest, error)
	Authenticate(ctx context.Context, username, password, address string) (auth.User, error)
	IssueCode(ctx context.Context, req auth.AuthorizeRequest, userID uuid.UUID) (string, error)
	ExchangeCode(ctx context.Context, x auth.CodeExchange) (auth.TokenResponse, error)
	StartSession(ctx context.Context, userID uuid.UUID) (token string, expires time.Time, err error)
	// SessionUser returns the user of a live session; auth.ErrNotFound otherwise.
	SessionUser(ctx context.Context, token string) (auth.User, error)
	EndSession(ctx context.Context, token string) error
	// OriginAllowed reports whether a registered client allows this browser origin (CORS).
	OriginAllowed(ctx context.Context, origin string) (bool, error)
}

// TokenVerifier checks the access tokens this service issued (keys.Verifier), for the few
// routes that resource servers call on behalf of a user.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*accesstoken.Claims, error)
}

// KeySet publishes the public signing keys.
type KeySet interface {
	// JWKS returns the JWK Set document and its entity tag; a nil body before any key is
	// loaded.
	JWKS() (body []byte, etag string)
}

// Pinger reports whether a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config holds the HTTP layer's settings.
type Config struct {
	// Issuer is the iss of every token and the base of the discovery URLs, without a
	// trailing slash (accesstoken.NormalizeIssuer). A loopback http issuer lets the sign-in
	// cookies go without the Secure attribute (local development and tests).
	Issuer string
	// JWKSMaxAge is the Cache-Control max-age of the JWK Set. Default DefaultJWKSMaxAge.
	JWKSMaxAge time.Duration
	// MaxBodyBytes caps JSON and form request bodies. Default 64 KiB.
	MaxBodyBytes int64
	// TrustedProxies are the CIDRs whose X-Forwarded-For names the client address (for
	// login throttling). Default none: the peer address is the client.
	TrustedProxies []string
	// Metrics, when set, records request and login metrics (NewMetrics).
	Metrics *Metrics
	// Audit, when set, is the audit log the admin API reads (GET /v1/admin/audit).
	Audit AuditLog
	// Version is the release /healthz reports (pkg/version). Default "".
	Version string
}

// DefaultJWKSMaxAge is Config.JWKSMaxAge unless configured otherwise.
const DefaultJWKSMaxAge = 5 * time.Minute

// Server is the auth service's HTTP handler.
type Server struct {
	accounts Accounts
	identity Identity // accounts' identity half, when it has one (account.go)
	keys     KeySet
	tokens   TokenVerifier
	db       Pinger
	cfg      Config
	logger   *slog.Logger
	ready    func() bool
	engine   *gin.Engine
	pages    *pages
	// issuer is cfg.Issuer normalised; secureCookies is false only for a loopback http issuer.
	issuer        string
	secureCookies bool
	// basePath is the issuer's path ("" at the root): the sign-in form posts to the page's
	// own origin, where its CSRF cookie was set, whatever host name the browser used.
	basePath string
	// admin and audit serve the admin API (admin.go).
	admin Admin
	audit AuditLog
}

// NewServer builds the handler. ready reports whether the process should take traffic (it
// turns false on shutdown before the listener closes).
func NewServer(logger *slog.Logger, cfg Config, accounts Accounts, keys KeySet, tokens TokenVerifier, db Pinger, ready func() bool) *Server {
	if cfg.JWKSMaxAge == 0 {
		cfg.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	s := &Server{accounts: accounts, keys: keys, tokens: tokens, db: db, cfg: cfg, logger: logger, ready: ready, engine: gin.New(),
		pages: newPages(), issuer: accesstoken.NormalizeIssuer(cfg.Issuer), secureCookies: !loopbackHTTP(cfg.Issuer)}
	s.admin, _ = accounts.(Admin) // auth.Service is one; without it the admin routes answer 404
	s.audit = cfg.Audit
	s.identity, _ = accounts.(Identity)
	if u, err := url.Parse(s.issuer); err == nil {
		s.basePath = u.Path
	}
	if err := s.engine.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		// Validated by the caller's configuration; a bad list trusts no one.
		_ = s.engine.SetTrustedProxies(nil)
	}
	if cfg.Metrics != nil {
		s.engine.Use(cfg.Metrics.handlers()...)
	}
	s.engine.Use(httplog.Gin(logger), httplog.Recovery(logger), s.refuseInvalidText)
	s.engine.HandleMethodNotAllowed = true
	s.engine.NoRoute(func(c *gin.Context) {
		s.problem(c, problem.New(http.StatusNotFound, "not_found", "no such route"))
	})
	s.engine.NoMethod(func(c *gin.Context) {
		s.problem(c, problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"))
	})
	s.routes()
	return s
}

// loopbackHTTP reports whether issuer is a plain-http URL of this machine.
func loopbackHTTP(issuer string) bool {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// refuseInvalidText answers 400 to a path or query that is not valid UTF-8 or holds a NUL
// character (pkg/safetext), before any handler can hand it to PostgreSQL.
func (s *Server) refuseInvalidText(c *gin.Context) {
	if !safetext.Valid(c.Request.URL.Path) || !safetext.ValidQuery(c.Request.URL.RawQuery) {
		s.problem(c, problem.New(http.StatusBadRequest, "invalid_request", "the path and query must be valid UTF-8 without NUL characters"))
		return
	}
	c.Next()
}

// problem writes p and stops the handler chain.
func (s *Server) problem(c *gin.Context, p *problem.Details) {
	metrics.SetCode(c, p.Code)
	problem.Write(c.Writer, c.Request, p)
	c.Abort()
}

// error writes err as a problem+json response.
func (s *Server) error(c *gin.Context, err error) { s.problem(c, s.toProblem(c, err)) }

// oauthError writes err as an RFC 6749 section 5.2 error response ({"error": ...}), which
// OAuth clients expect from the token and revocation endpoints. The status and code come from
// the same mapping as every other error.
func (s *Server) oauthError(c *gin.Context, err error) {
	p := s.toProblem(c, err)
	metrics.SetCode(c, p.Code)
	h := c.Writer.Header()
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((p.RetryAfter+time.Second-1)/time.Second)))
	}
	if p.Status == http.StatusUnauthorized {
		// RFC 6749 section 5.2: invalid_client answers with the scheme the client may use.
		h.Set("WWW-Authenticate", `Basic realm="coffer"`)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	c.JSON(p.Status, gin.H{"error": p.Code, "error_description": p.Detail})
	c.Abort()
}

// toProblem maps any error to its problem: the one place errors become HTTP. Codes on the
// OAuth endpoints are RFC 6749 error codes. What the client reads comes from fields of typed
// errors (InputError, InvalidScopeError, ThrottledError), never from err.Error().
func (s *Server) toProblem(c *gin.Context, err error) *problem.Details {
	var p *problem.Details
	var maxBytes *http.MaxBytesError
	var throttled *auth.ThrottledError
	var scope *auth.ScopeError
	var input *auth.InputError
	var badScope *auth.InvalidScopeError
	switch {
	case errors.As(err, &p):
	case errors.As(err, &input):
		p = problem.New(http.StatusBadRequest, "invalid_request", "invalid input: "+input.Reason)
	case errors.Is(err, auth.ErrInvalidInput):
		p = problem.New(http.StatusBadRequest, "invalid_request", "invalid input")
	case errors.As(err, &badScope):
		p = problem.New(http.StatusBadRequest, "invalid_scope", "invalid scope: "+strconv.Quote(badScope.Scope)+" is not allowed")
	case errors.Is(err, auth.ErrInvalidScope):
		p = problem.New(http.StatusBadRequest, "invalid_scope", "a requested scope is not allowed")
	case errors.Is(err, auth.ErrInvalidGrant):
		// One answer for unknown, expired, revoked and reused tokens and codes.
		p = problem.New(http.StatusBadRequest, "invalid_grant", "the refresh token or authorization code is invalid, expired, revoked or not yours")
	case errors.Is(err, auth.ErrInvalidClient):
		p = problem.New(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	case errors.Is(err, auth.ErrUnsupportedGrantType):
		p = problem.New(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code, refresh_token or client_credentials")
	case errors.Is(err, auth.ErrUsernameTaken):
		p = problem.New(http.StatusConflict, "username_taken", "that username is taken")
	case errors.Is(err, auth.ErrSignupDisabled):
		p = problem.New(http.StatusForbidden, "signup_disabled", "self-service sign-up is disabled")
	case errors.Is(err, auth.ErrNoToken):
		p = problem.New(http.StatusUnauthorized, "unauthorized", "a bearer access token is required")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer"`}}
	case errors.Is(err, auth.ErrInvalidToken):
		s.logger.DebugContext(c.Request.Context(), "token rejected", "err", err)
		p = problem.New(http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer", error="invalid_token"`}}
	case errors.As(err, &scope):
		p = problem.New(http.StatusForbidden, "insufficient_scope", "the access token lacks the "+scope.Scope+" scope")
		p.Header = http.Header{"Www-Authenticate": {`Bearer realm="coffer", error="insufficient_scope", scope="` + scope.Scope + `"`}}
	case errors.Is(err, auth.ErrNotAdmin):
		p = problem.New(http.StatusForbidden, "admin_required", "this route needs an access token with the admin role")
	case errors.Is(err, auth.ErrNotFound):
		p = problem.New(http.StatusNotFound, "not_found", "no such user")
	case identityProblem(err) != nil:
		p = identityProblem(err)
	case errors.Is(err, auth.ErrInvalidCredentials):
		p = problem.New(http.StatusUnauthorized, "invalid_credentials", "invalid username or password")
	case errors.As(err, &throttled):
		p = problem.New(http.StatusTooManyRequests, "too_many_attempts", "too many login attempts; retry later")
		p.RetryAfter = throttled.RetryAfter
	case errors.Is(err, auth.ErrBusy):
		p = problem.New(http.StatusServiceUnavailable, "busy", "the service is at capacity; retry later")
		p.RetryAfter = time.Second
	case errors.Is(err, auth.ErrUnavailable):
		// An outage is not a bug: a warning, and a 503 the client may retry (as in the file service).
		s.logger.WarnContext(c.Request.Context(), "dependency unavailable", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		p = problem.New(http.StatusServiceUnavailable, "unavailable", "a backing service is unavailable; retry shortly")
		p.RetryAfter = 2 * time.Second
	case errors.As(err, &maxBytes):
		p = problem.New(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body exceeds %d bytes", maxBytes.Limit))
	case errors.Is(err, context.Canceled):
		// The client went away; nothing useful to send.
		p = problem.New(499, "client_closed", "request cancelled")
	default:
		s.logger.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		p = problem.New(http.StatusInternalServerError, "internal", "internal error")
	}
	return p
}

// decode reads a JSON request body into a T, bounded in size, rejecting unknown fields and
// trailing data (pkg/jsonbody, as in the file service).
func decode[T any](s *Server, c *gin.Context) (T, error) {
	return jsonbody.Decode[T](c.Writer, c.Request, s.cfg.MaxBodyBytes)
}

// encode writes v as JSON with the given status.
func encode(c *gin.Context, status int, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, v)
}
