package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/metrics"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

//go:embed pages/signin.html pages/identity.html pages/signin.css
var pageFiles embed.FS

// Cookie names of the authorization endpoint. On an https issuer each gets the __Host- prefix
// (cookieName), which a browser accepts only with Secure, Path=/ and no Domain: no sibling
// host and no plain-http page can set or shadow them.
const (
	sessionCookie = "coffer_session"
	csrfCookie    = "coffer_csrf"
)

// loginAttemptKey marks a request that tried a password, for coffer_auth_logins_total.
const loginAttemptKey = "coffer.login_attempt"

// cookieName is the name a cookie of the sign-in pages has on this issuer.
func (s *Server) cookieName(name string) string {
	if s.secureCookies {
		return "__Host-" + name
	}
	return name
}

// cookie returns the value of one of the sign-in pages' cookies.
func (s *Server) cookie(c *gin.Context, name string) (string, error) {
	return c.Cookie(s.cookieName(name))
}

// pages renders the authorization endpoint's HTML. The stylesheet is inline, allowed by its
// hash in the Content-Security-Policy, so the page loads nothing and runs no script.
type pages struct {
	tmpl    *template.Template
	css     template.CSS
	cssHash string // 'sha256-...' of the inline stylesheet
}

func newPages() *pages {
	css, err := pageFiles.ReadFile("pages/signin.css")
	if err != nil {
		panic(err) // embedded at build time
	}
	sum := sha256.Sum256(css)
	return &pages{
		tmpl:    template.Must(template.ParseFS(pageFiles, "pages/signin.html", "pages/identity.html")),
		css:     template.CSS(css), // our own embedded file, trusted as CSS
		cssHash: "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
	}
}

// hiddenField is a parameter of the authorization request carried through the sign-in form.
type hiddenField struct{ Name, Value string }

// pageData is what the templates show.
type pageData struct {
	Title, Error, Message string
	ClientID, Scope       string
	Username, Action      string
	Hidden                []hiddenField
	CSS                   template.CSS
	// ID is what the identity pages show (identity_pages.go).
	ID identityPage
}

// render writes an HTML page with a CSP that allows only the inline stylesheet (by hash) and
// form posts to this origin and to formTarget (the client's redirect origin, which a browser
// also checks against form-action when the post answers with a redirect).
func (s *Server) render(c *gin.Context, status int, name string, d pageData, formTarget string) {
	d.CSS = s.pages.css
	formAction := "'self'"
	if formTarget != "" {
		formAction += " " + formTarget
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// img-src data: shows the TOTP enrolment's QR code, which the page carries inline.
	h.Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src "+s.pages.cssHash+"; form-action "+formAction+
		"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.Status(status)
	if err := s.pages.tmpl.ExecuteTemplate(c.Writer, name, d); err != nil {
		s.logger.ErrorContext(c.Request.Context(), "render page", "page", name, "err", err)
	}
	c.Abort()
}

// authorizeParamNames are the request parameters carried through the sign-in form.
var authorizeParamNames = []string{"response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method"}

// handleAuthorize is the authorization endpoint (RFC 6749 section 3.1) of the authorization
// code grant with PKCE. GET shows the sign-in form, or with a live sign-in session redirects
// with a code at once; POST checks the form (CSRF token, then the password under the login
// throttle) and redirects with a code. The request is checked again on every step.
func (s *Server) handleAuthorize() gin.HandlerFunc {
	return func(c *gin.Context) {
		values, ok := s.authorizeValues(c)
		if !ok {
			return
		}
		req, err := s.accounts.CheckAuthorize(c.Request.Context(), auth.AuthorizeParams{
			ResponseType: values.Get("response_type"), ClientID: values.Get("client_id"), RedirectURI: values.Get("redirect_uri"),
			State: values.Get("state"), Scope: values.Get("scope"),
			CodeChallenge: values.Get("code_challenge"), CodeChallengeMethod: values.Get("code_challenge_method"),
		})
		switch {
		case err != nil:
			s.authorizeFailed(c, req, err)
		case c.Request.Method == http.MethodPost && values.Get("action") == "signup":
			s.signUpForm(c, req, values)
		case c.Request.Method == http.MethodPost && values.Get("action") == "enrol":
			s.enrolForm(c, req, values) // enrol_pages.go
		case c.Request.Method == http.MethodPost:
			s.signIn(c, req, values)
		case values.Get("screen") == "signup" && s.signupEnabled():
			s.signUpPage(c, http.StatusOK, req, values, "", "")
		default:
			s.authorizeWithSession(c, req, values)
		}
	}
}

// authorizeValues reads the request's parameters: the query of a GET (a repeated one is
// refused, RFC 6749 section 3.1), the form of a POST. On failure it has answered.
func (s *Server) authorizeValues(c *gin.Context) (url.Values, bool) {
	if c.Request.Method == http.MethodPost {
		form, err := s.decodeForm(c)
		if err != nil {
			s.messagePage(c, http.StatusBadRequest, "Sign-in request refused", "The form could not be read. You were not redirected.")
			return nil, false
		}
		return form, true
	}
	values := c.Request.URL.Query()
	for _, vs := range values {
		if len(vs) > 1 {
			s.messagePage(c, http.StatusBadRequest, "Sign-in request refused", "A parameter of the request is repeated. You were not redirected.")
			return nil, false
		}
	}
	return values, true
}

// authorizeWithSession redirects with a code if the browser holds a live sign-in session
// (unless prompt=login), and shows the sign-in form otherwise.
func (s *Server) authorizeWithSession(c *gin.Context, req auth.AuthorizeRequest, values url.Values) {
	if v, err := s.cookie(c, sessionCookie); err == nil && values.Get("prompt") != "login" {
		u, err := s.accounts.SessionUser(c.Request.Context(), v)
		switch {
		case err == nil:
			s.redirectWithCode(c, http.StatusFound, req, u)
			return
		case !errors.Is(err, auth.ErrNotFound):
			s.authorizeFailed(c, req, err)
			return
		}
	}
	s.signInPage(c, http.StatusOK, req, values, "", "")
}

// signIn handles the posted form: the CSRF token first, then the password under the login
// throttle; on success it starts a sign-in session and redirects with a code.
func (s *Server) signIn(c *gin.Context, req auth.AuthorizeRequest, values url.Values) {
	ctx := c.Request.Context()
	if !s.csrfValid(c, values.Get("csrf_token")) {
		s.messagePage(c, http.StatusForbidden, "Sign-in form expired",
			"The sign-in form was not sent from this page, or it expired. Go back to the application and sign in again.")
		return
	}
	username := values.Get("username")
	c.Set(loginAttemptKey, true)
	u, err := s.authenticateForm(ctx, username, values.Get("password"), values.Get("otp"), c.ClientIP())
	var throttled *auth.ThrottledError
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrMFAEnrollmentRequired):
		s.enrolPage(c, err, s.basePath+"/oauth2/authorize", s.authorizeHidden(c, values), formTarget(req.RedirectURI), "")
		return
	case errors.Is(err, auth.ErrMFARequired), errors.Is(err, auth.ErrInvalidOTP):
		s.signInMFAPage(c, req, values, username, err)
		return
	case errors.As(err, &throttled):
		c.Set(metrics.CodeKey, "too_many_attempts")
		c.Header("Retry-After", strconv.Itoa(int((throttled.RetryAfter+time.Second-1)/time.Second)))
		s.signInPage(c, http.StatusTooManyRequests, req, values, username, "Too many sign-in attempts. Try again later.")
		return
	case errors.Is(err, auth.ErrInvalidCredentials):
		c.Set(metrics.CodeKey, "invalid_credentials")
		s.signInPage(c, http.StatusUnauthorized, req, values, username, "Invalid username or password.")
		return
	case errors.Is(err, auth.ErrBusy):
		c.Set(metrics.CodeKey, "busy")
		c.Header("Retry-After", "1")
		s.signInPage(c, http.StatusServiceUnavailable, req, values, username, "The service is busy. Try again in a moment.")
		return
	default:
		s.authorizeFailed(c, req, err)
		return
	}
	token, exp, err := s.accounts.StartSession(ctx, u.ID)
	if err != nil {
		s.authorizeFailed(c, req, err)
		return
	}
	s.setCookie(c, sessionCookie, token, time.Until(exp), http.SameSiteLaxMode)
	s.redirectWithCode(c, http.StatusSeeOther, req, u)
}

// redirectWithCode issues a code and sends the user agent back to the client.
func (s *Server) redirectWithCode(c *gin.Context, status int, req auth.AuthorizeRequest, u auth.User) {
	code, err := s.accounts.IssueCode(c.Request.Context(), req, u.ID)
	if err != nil {
		s.authorizeFailed(c, req, err)
		return
	}
	s.redirectBack(c, status, req, url.Values{"code": {code}})
}

// redirectBack redirects to the request's redirect URI with params, the state and the issuer
// (RFC 9207), keeping the URI's own query.
func (s *Server) redirectBack(c *gin.Context, status int, req auth.AuthorizeRequest, params url.Values) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil { // registered URIs are validated; cannot happen
		s.messagePage(c, http.StatusInternalServerError, "Sign-in failed", "Something went wrong.")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	q.Set("iss", s.issuer)
	u.RawQuery = q.Encode()
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(status, u.String())
	c.Abort()
}

// authorizeFailed answers a failed authorization request: an unknown client or redirect URI
// on a page of ours (never a redirect: it could be anyone's URL); a request error back to the
// client (RFC 6749 section 4.1.2.1); anything else as server_error back to the client, logged.
func (s *Server) authorizeFailed(c *gin.Context, req auth.AuthorizeRequest, err error) {
	var ae *auth.AuthorizeError
	switch {
	case errors.Is(err, auth.ErrUnknownClient):
		s.messagePage(c, http.StatusBadRequest, "Sign-in request refused",
			"The application is not registered with this service (unknown client_id). You were not redirected.")
	case errors.Is(err, auth.ErrRedirectURI):
		s.messagePage(c, http.StatusBadRequest, "Sign-in request refused",
			"The redirect_uri is not one registered for this application. You were not redirected.")
	case errors.As(err, &ae):
		s.redirectBack(c, http.StatusFound, req, url.Values{"error": {ae.Code}, "error_description": {ae.Description}})
	case errors.Is(err, auth.ErrUnavailable):
		// An outage: a warning, and RFC 6749's temporarily_unavailable (or a 503 page).
		s.logger.WarnContext(c.Request.Context(), "dependency unavailable", "path", c.Request.URL.Path, "err", err)
		if req.RedirectURI == "" {
			c.Header("Retry-After", "2")
			s.messagePage(c, http.StatusServiceUnavailable, "Sign-in unavailable", "The service cannot reach its database. Try again in a moment.")
			return
		}
		s.redirectBack(c, http.StatusFound, req, url.Values{"error": {"temporarily_unavailable"}, "error_description": {"a backing service is unavailable; retry shortly"}})
	default:
		s.logger.ErrorContext(c.Request.Context(), "authorization request failed", "err", err)
		if req.RedirectURI == "" {
			s.messagePage(c, http.StatusInternalServerError, "Sign-in failed", "Something went wrong. Try again later.")
			return
		}
		s.redirectBack(c, http.StatusFound, req, url.Values{"error": {"server_error"}, "error_description": {"internal error"}})
	}
}

func (s *Server) messagePage(c *gin.Context, status int, title, msg string) {
	s.render(c, status, "message", pageData{Title: title, Message: msg}, "")
}

// signInPage shows the sign-in form with the request's parameters and a CSRF token (a new
// one unless the browser already holds one).
func (s *Server) signInPage(c *gin.Context, status int, req auth.AuthorizeRequest, values url.Values, username, msg string) {
	csrf := s.csrfToken(c)
	d := pageData{
		Title: "Sign in", Error: msg, ClientID: req.Client.ID, Scope: strings.Join(req.Scopes, " "),
		Username: username, Action: s.basePath + "/oauth2/authorize",
		Hidden: []hiddenField{{"csrf_token", csrf}},
	}
	for _, n := range authorizeParamNames {
		if v := values.Get(n); v != "" {
			d.Hidden = append(d.Hidden, hiddenField{n, v})
		}
	}
	s.signInAlternatives(c, &d, values)
	s.render(c, status, "signin", d, formTarget(req.RedirectURI))
}

// csrfToken returns the browser's CSRF token for the sign-in pages' forms (a new one, set as
// a cookie, unless the browser already holds one).
func (s *Server) csrfToken(c *gin.Context) string {
	csrf, err := s.cookie(c, csrfCookie)
	if err != nil || len(csrf) != 43 {
		var b [32]byte
		_, _ = rand.Read(b[:])
		csrf = base64.RawURLEncoding.EncodeToString(b[:])
		s.setCookie(c, csrfCookie, csrf, time.Hour, http.SameSiteStrictMode)
	}
	return csrf
}

// csrfValid checks the form's token against the cookie (double submit): another site can
// neither read the cookie nor set it for this origin.
func (s *Server) csrfValid(c *gin.Context, token string) bool {
	cookie, err := s.cookie(c, csrfCookie)
	return err == nil && len(cookie) == 43 && subtle.ConstantTimeCompare([]byte(cookie), []byte(token)) == 1
}

// setCookie sets one of the sign-in pages' cookies: HttpOnly, Secure unless the issuer is
// loopback http, and on https a __Host- cookie for the whole origin; on loopback http it is
// limited to the issuer's /oauth2/ paths.
func (s *Server) setCookie(c *gin.Context, name, value string, maxAge time.Duration, site http.SameSite) {
	path := s.basePath + "/oauth2/"
	if s.secureCookies {
		path = "/"
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: path, MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: s.secureCookies, SameSite: site,
	})
}

// formTarget is the CSP source of a redirect URI: its origin, or its private-use scheme.
func formTarget(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return ""
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + ":"
}

// logoutParamNames are the parameters of a logout request carried through its confirmation.
var logoutParamNames = []string{"client_id", "post_logout_redirect_uri", "state"}

// handleLogout ends the sign-in session (OpenID RP-initiated logout). A GET never ends it: it
// shows a confirmation form whose POST carries the CSRF token, so another site can neither
// sign a person out nor learn anything by trying. Without a session there is nothing to
// confirm and it goes straight on. Afterwards, with a client_id and a
// post_logout_redirect_uri registered as one of that client's redirect URIs, it redirects
// there; otherwise it shows a page.
func (s *Server) handleLogout() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		values := c.Request.URL.Query()
		if c.Request.Method == http.MethodPost {
			form, err := s.decodeForm(c)
			if err != nil {
				s.messagePage(c, http.StatusBadRequest, "Sign-out request refused", "The form could not be read.")
				return
			}
			values = form
		}
		session, err := s.cookie(c, sessionCookie)
		if err == nil {
			if c.Request.Method != http.MethodPost {
				d := pageData{Title: "Sign out", Action: s.basePath + "/oauth2/logout",
					Message: "Sign out of Coffer on this browser?", Hidden: []hiddenField{{"csrf_token", s.csrfToken(c)}}}
				for _, n := range logoutParamNames {
					if v := values.Get(n); v != "" {
						d.Hidden = append(d.Hidden, hiddenField{n, v})
					}
				}
				// The form's POST may answer with a redirect to the client, which form-action covers.
				s.render(c, http.StatusOK, "logout", d, formTarget(values.Get("post_logout_redirect_uri")))
				return
			}
			if !s.csrfValid(c, values.Get("csrf_token")) {
				s.messagePage(c, http.StatusForbidden, "Sign-out form expired",
					"The sign-out form was not sent from this page, or it expired. You are still signed in.")
				return
			}
			if err := s.accounts.EndSession(ctx, session); err != nil {
				s.logger.ErrorContext(ctx, "end session", "err", err)
				s.messagePage(c, http.StatusServiceUnavailable, "Sign-out failed", "Something went wrong. Try again in a moment.")
				return
			}
			s.setCookie(c, sessionCookie, "", -time.Second, http.SameSiteLaxMode)
		}
		if target := values.Get("post_logout_redirect_uri"); target != "" {
			req, err := s.accounts.CheckAuthorize(ctx, auth.AuthorizeParams{ClientID: values.Get("client_id"), RedirectURI: target})
			var ae *auth.AuthorizeError
			if err == nil || errors.As(err, &ae) {
				u, _ := url.Parse(req.RedirectURI)
				if st := values.Get("state"); st != "" && len(st) <= 1024 {
					v := u.Query()
					v.Set("state", st)
					u.RawQuery = v.Encode()
				}
				c.Header("Cache-Control", "no-store")
				c.Redirect(http.StatusSeeOther, u.String())
				return
			}
		}
		s.messagePage(c, http.StatusOK, "Signed out", "You are signed out of Coffer.")
	}
}
