package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

func (s *Server) handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) { encode(c, http.StatusOK, gin.H{"status": "ok", "version": s.cfg.Version}) }
}

func (s *Server) handleReadyz() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.ready() {
			s.problem(c, problem.New(http.StatusServiceUnavailable, "not_ready", "shutting down"))
			return
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.db.Ping(ctx); err != nil {
			s.problem(c, problem.New(http.StatusServiceUnavailable, "not_ready", "database unavailable"))
			return
		}
		if body, _ := s.keys.JWKS(); len(body) == 0 {
			s.problem(c, problem.New(http.StatusServiceUnavailable, "not_ready", "no signing key loaded"))
			return
		}
		encode(c, http.StatusOK, gin.H{"status": "ready"})
	}
}

func (s *Server) handleJWKS() gin.HandlerFunc {
	return func(c *gin.Context) {
		body, etag := s.keys.JWKS()
		h := c.Writer.Header()
		if len(body) == 0 {
			// No key yet (first start): an empty answer must not be cached as the key set.
			h.Set("Cache-Control", "no-store")
			p := problem.New(http.StatusServiceUnavailable, "unavailable", "no signing key is loaded yet; retry shortly")
			p.RetryAfter = 2 * time.Second
			s.problem(c, p)
			return
		}
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.JWKSMaxAge/time.Second)))
		h.Set("ETag", etag)
		if match := c.GetHeader("If-None-Match"); match != "" && etagMatch(match, etag) {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, "application/jwk-set+json", body)
	}
}

// etagMatch implements the weak comparison of If-None-Match (RFC 9110 section 13.1.2).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// discovery is the RFC 8414 authorization server metadata document, also served at the
// OpenID configuration path. It lists only what the service does: no ID tokens are issued,
// so it names no ID-token metadata.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported"`
	AuthorizationResponseISSSupported bool     `json:"authorization_response_iss_parameter_supported"`
	AccessTokenSigningAlgValues       []string `json:"access_token_signing_alg_values_supported"`
}

func (s *Server) handleDiscovery() gin.HandlerFunc {
	iss := s.issuer
	doc := discovery{
		Issuer:                        iss,
		AuthorizationEndpoint:         iss + "/oauth2/authorize",
		TokenEndpoint:                 iss + "/oauth2/token",
		RevocationEndpoint:            iss + "/oauth2/revoke",
		JWKSURI:                       iss + "/.well-known/jwks.json",
		GrantTypesSupported:           []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypesSupported:        []string{"code"},
		ResponseModesSupported:        []string{"query"},
		CodeChallengeMethodsSupported: []string{"S256"},
		ScopesSupported:               accesstoken.AllScopes,
		// Confidential clients authenticate with a secret; public clients ("none") name
		// themselves with client_id and prove the code with PKCE.
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethods:     []string{"none"},
		AuthorizationResponseISSSupported: true,
		AccessTokenSigningAlgValues:       []string{accesstoken.Algorithm},
	}
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.JSON(http.StatusOK, doc)
	}
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Scope    string `json:"scope,omitempty"`
	// OTP is a TOTP or recovery code, for a user with a second factor (login only).
	OTP string `json:"otp,omitempty"`
}

func (s *Server) handleSignUp() gin.HandlerFunc {
	type response struct {
		ID        string    `json:"id"`
		Username  string    `json:"username"`
		CreatedAt time.Time `json:"created_at"`
	}
	return func(c *gin.Context) {
		req, err := decode[credentials](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		u, err := s.accounts.SignUp(c.Request.Context(), req.Username, req.Password)
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Location", "/v1/users/"+u.Username) // the lookup route (needs files:share)
		encode(c, http.StatusCreated, response{ID: u.ID.String(), Username: u.Username, CreatedAt: u.CreatedAt})
	}
}

func (s *Server) handleLogin() gin.HandlerFunc {
	return func(c *gin.Context) {
		req, err := decode[credentials](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		tok, err := s.accounts.Login(c.Request.Context(), auth.LoginRequest{
			Username: req.Username, Password: req.Password, Scopes: strings.Fields(req.Scope), Address: c.ClientIP(), OTP: req.OTP,
		})
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Pragma", "no-cache")
		encode(c, http.StatusOK, tok)
	}
}

// authenticate requires a valid access token of ours carrying scope. Tokens are accepted only
// in the Authorization header. (The file service's middleware has the same shape.)
func (s *Server) authenticate(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := accesstoken.FromHeader(c.GetHeader("Authorization"))
		if !ok {
			s.error(c, auth.ErrNoToken)
			return
		}
		claims, err := s.tokens.Verify(c.Request.Context(), raw)
		if err != nil {
			s.error(c, fmt.Errorf("%w: %w", auth.ErrInvalidToken, err))
			return
		}
		if !claims.HasScope(scope) {
			s.error(c, &auth.ScopeError{Scope: scope})
			return
		}
		c.Set(tokenClaimsKey, claims)
		c.Next()
	}
}

// tokenClaimsKey is the gin context key of the claims authenticate verified.
const tokenClaimsKey = "coffer.token.claims"

// handleLookupUser lets a resource server (the file service, on behalf of a user who shares
// a file) turn a username into the user's id, the sub of their tokens.
func (s *Server) handleLookupUser() gin.HandlerFunc {
	type response struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	return func(c *gin.Context) {
		u, err := s.accounts.LookupUser(c.Request.Context(), c.Param("username"))
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Vary", "Authorization")
		encode(c, http.StatusOK, response{ID: u.ID.String(), Username: u.Username})
	}
}
