package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/safetext"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// handleToken is the OAuth 2.0 token endpoint (RFC 6749 section 3.2) for the
// authorization_code (with PKCE), refresh_token and client_credentials grants.
func (s *Server) handleToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, err := s.decodeForm(c)
		if err != nil {
			s.oauthError(c, err)
			return
		}
		id, secret, hasClient, err := clientAuth(c.Request, form)
		if err != nil {
			s.oauthError(c, err)
			return
		}
		scopes := strings.Fields(form.Get("scope"))
		var tok auth.TokenResponse
		switch form.Get("grant_type") {
		case "authorization_code":
			if form.Get("code") == "" {
				s.oauthError(c, auth.Invalid("code is required"))
				return
			}
			tok, err = s.accounts.ExchangeCode(c.Request.Context(), auth.CodeExchange{
				Client: auth.ClientAuth{ID: id, Secret: secret}, Code: form.Get("code"),
				RedirectURI: form.Get("redirect_uri"), CodeVerifier: form.Get("code_verifier"),
			})
		case "refresh_token":
			// A refresh token belongs to the client it was issued to: Coffer's own (no
			// client_id) for /v1/login, or the named client (a public one sends no secret).
			rt := form.Get("refresh_token")
			if rt == "" {
				s.oauthError(c, auth.Invalid("refresh_token is required"))
				return
			}
			tok, err = s.accounts.RefreshAs(c.Request.Context(), auth.ClientAuth{ID: id, Secret: secret}, rt, scopes)
		case "client_credentials":
			if !hasClient || secret == "" {
				s.oauthError(c, auth.ErrInvalidClient)
				return
			}
			tok, err = s.accounts.ClientCredentials(c.Request.Context(), id, secret, scopes)
		case "":
			err = auth.Invalid("grant_type is required")
		default:
			err = auth.ErrUnsupportedGrantType
		}
		if err != nil {
			s.oauthError(c, err)
			return
		}
		c.Header("Pragma", "no-cache")
		encode(c, http.StatusOK, tok)
	}
}

// handleRevoke is the RFC 7009 revocation endpoint. Refresh tokens are held by Coffer's
// public client, so possession of the token is the authorisation to revoke it. The answer is
// 200 whether or not the token was known (RFC 7009 section 2.2).
func (s *Server) handleRevoke() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, err := s.decodeForm(c)
		if err != nil {
			s.oauthError(c, err)
			return
		}
		tok := form.Get("token")
		if tok == "" {
			s.oauthError(c, auth.Invalid("token is required"))
			return
		}
		if err := s.accounts.Revoke(c.Request.Context(), tok); err != nil {
			s.oauthError(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusOK)
	}
}

// decodeForm reads an application/x-www-form-urlencoded body, bounded in size, refusing
// repeated parameters (RFC 6749 section 3.2).
func (s *Server) decodeForm(c *gin.Context) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, auth.Invalid("send application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return nil, err
		}
		return nil, auth.Invalid("cannot read the request body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, auth.Invalid("malformed form body")
	}
	if !safetext.ValidValues(form) {
		return nil, auth.Invalid("form fields must be valid UTF-8 without NUL characters")
	}
	for k, vs := range form {
		if len(vs) > 1 {
			return nil, auth.Invalid("parameter %q repeated", k)
		}
	}
	return form, nil
}

// clientAuth reads client credentials from HTTP Basic (client_secret_basic, with the
// form-encoding of RFC 6749 section 2.3.1) or the form (client_secret_post). Using both at
// once is refused (section 2.3).
func clientAuth(r *http.Request, form url.Values) (id, secret string, ok bool, err error) {
	bid, bsecret, basic := r.BasicAuth()
	if r.Header.Get("Authorization") != "" && !basic {
		return "", "", false, auth.ErrInvalidClient
	}
	_, postID := form["client_id"]
	_, postSecret := form["client_secret"]
	if basic {
		if postSecret || (postID && form.Get("client_id") != "") {
			return "", "", false, auth.Invalid("use one client authentication method")
		}
		if id, err = url.QueryUnescape(bid); err != nil {
			return "", "", false, auth.ErrInvalidClient
		}
		if secret, err = url.QueryUnescape(bsecret); err != nil {
			return "", "", false, auth.ErrInvalidClient
		}
		return id, secret, true, nil
	}
	if postID {
		return form.Get("client_id"), form.Get("client_secret"), true, nil
	}
	return "", "", false, nil
}
