package api

import (
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// safeDataURL marks a data: URL this service drew (the QR code) as safe for an img src.
func safeDataURL(u string) template.URL {
	if !strings.HasPrefix(u, "data:image/png;base64,") {
		return ""
	}
	return template.URL(u) // our own PNG, base64: no markup can hide in it
}

// UpstreamCallbackPath is the redirect URI to register at every upstream provider, after
// the issuer.
const UpstreamCallbackPath = "/oauth2/upstream/callback"

// handleUpstreamStart sends the browser to the named provider. What the browser returns to
// once signed in is built here, never taken from the request: the authorization request it
// came from, or the account page (after an invitation, or from the account page).
func (s *Server) handleUpstreamStart() gin.HandlerFunc {
	return func(c *gin.Context) {
		q := c.Request.URL.Query()
		returnTo := s.basePath + "/oauth2/account"
		invitation := q.Get("invitation")
		if invitation == "" && q.Get("to") != "account" {
			returnTo = s.basePath + "/oauth2/authorize?" + authorizeQuery(q).Encode()
		}
		redirect, state, err := s.identity.StartUpstream(c.Request.Context(), c.Param("provider"), returnTo, invitation)
		switch {
		case errors.Is(err, auth.ErrUnknownProvider):
			s.messagePage(c, http.StatusNotFound, "Unknown sign-in provider", "No sign-in provider of that name is configured.")
			return
		case errors.Is(err, auth.ErrInvitationInvalid):
			s.messagePage(c, http.StatusNotFound, "Invitation invalid", "This invitation is unknown, already used or expired.")
			return
		case errors.Is(err, auth.ErrUpstreamRefused):
			s.logger.WarnContext(c.Request.Context(), "upstream provider unavailable", "provider", c.Param("provider"), "err", err)
			s.messagePage(c, http.StatusBadGateway, "Sign-in provider unavailable",
				"The sign-in provider could not be reached or did not answer as configured. Try again later or use another way to sign in.")
			return
		case err != nil:
			s.pageFailed(c, err)
			return
		}
		// The state is bound to this browser: a callback arriving in another browser (login
		// CSRF) finds no matching cookie.
		s.setCookie(c, upstreamCookie, state, auth.UpstreamTTL, http.SameSiteLaxMode)
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusSeeOther, redirect)
	}
}

// handleUpstreamCallback finishes a sign-in at a provider.
func (s *Server) handleUpstreamCallback() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		q := c.Request.URL.Query()
		cookie, _ := s.cookie(c, upstreamCookie)
		s.setCookie(c, upstreamCookie, "", -time.Second, http.SameSiteLaxMode)
		state := q.Get("state")
		if cookie == "" || subtle.ConstantTimeCompare([]byte(cookie), []byte(state)) != 1 {
			s.logger.WarnContext(ctx, "upstream callback refused", "err", "state does not match this browser's")
			s.messagePage(c, http.StatusBadRequest, "Sign-in refused", "This sign-in was not started in this browser, or it expired. Start again.")
			return
		}
		if e := q.Get("error"); e != "" {
			s.messagePage(c, http.StatusBadRequest, "Sign-in cancelled", "The sign-in provider did not sign you in. Start again.")
			return
		}
		res, err := s.identity.FinishUpstream(ctx, state, q.Get("code"), q.Get("iss"))
		if err != nil {
			s.upstreamFailed(c, err)
			return
		}
		s.finishUpstream(c, res)
	}
}

func (s *Server) upstreamFailed(c *gin.Context, err error) {
	switch {
	case errors.Is(err, auth.ErrUpstreamRefused):
		s.logger.WarnContext(c.Request.Context(), "upstream sign-in refused", "err", err)
		s.messagePage(c, http.StatusBadRequest, "Sign-in refused", "The answer of the sign-in provider did not pass Coffer's checks. Start again.")
	case errors.Is(err, auth.ErrUpstreamNotAllowed):
		s.messagePage(c, http.StatusForbidden, "No Coffer account",
			"Your account at the sign-in provider has no Coffer account, and may not create one. Ask an administrator for an invitation.")
	case errors.Is(err, auth.ErrInvalidCredentials):
		s.messagePage(c, http.StatusForbidden, "Account disabled", "This Coffer account cannot sign in.")
	case errors.Is(err, auth.ErrInvalidOTP):
		s.messagePage(c, http.StatusUnauthorized, "Wrong code", "That code is wrong or was already used. Start the sign-in again.")
	case errors.Is(err, auth.ErrThrottled):
		retryAfter(c, err)
		s.messagePage(c, http.StatusTooManyRequests, "Too many attempts", "Too many sign-in attempts. Try again later.")
	default:
		s.pageFailed(c, err)
	}
}

// finishUpstream asks for the second factor, or signs the browser in and sends it on.
func (s *Server) finishUpstream(c *gin.Context, res auth.UpstreamResult) {
	if res.MFAToken != "" {
		s.setCookie(c, upstreamCookie, res.MFAToken, auth.UpstreamTTL, http.SameSiteLaxMode)
		s.render(c, http.StatusOK, "otp", pageData{Title: "Two-factor authentication", Action: s.basePath + "/oauth2/upstream/mfa"}, "")
		return
	}
	if !s.startBrowserSession(c, res.User) {
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, s.localPath(res.ReturnTo))
}

// localPath keeps a stored return path on this service (it is built by handleUpstreamStart,
// but a path is checked before it is followed).
func (s *Server) localPath(p string) string {
	if !strings.HasPrefix(p, s.basePath+"/oauth2/") || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return s.basePath + "/oauth2/account"
	}
	return p
}

// handleUpstreamMFA takes the second factor of an upstream sign-in. The waiting sign-in is
// named by a SameSite cookie, so another site cannot post a code into it.
func (s *Server) handleUpstreamMFA() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, ok := s.readForm(c)
		if !ok {
			return
		}
		token, _ := s.cookie(c, upstreamCookie)
		s.setCookie(c, upstreamCookie, "", -time.Second, http.SameSiteLaxMode)
		res, err := s.identity.FinishUpstreamMFA(c.Request.Context(), token, form.Get("otp"), c.ClientIP())
		if err != nil {
			s.upstreamFailed(c, err)
			return
		}
		s.finishUpstream(c, res)
	}
}

// handleInvitationPage shows an invitation (choose a username and password, or sign in
// upstream) or a reset link (set a new password).
func (s *Server) handleInvitationPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		token := c.Query("token")
		inv, err := s.identity.Invitation(c.Request.Context(), token)
		if err != nil {
			if msg, status := formError(err); msg != "" {
				s.messagePage(c, status, "Link invalid", msg)
				return
			}
			s.pageFailed(c, err)
			return
		}
		s.invitationPage(c, http.StatusOK, inv, token, "", "")
	}
}

func (s *Server) invitationPage(c *gin.Context, status int, inv auth.Invitation, token, username, msg string) {
	d := pageData{Title: "Join Coffer", Error: msg, Username: username, Action: s.basePath + "/oauth2/invitation",
		Hidden: []hiddenField{{"csrf_token", s.csrfToken(c)}, {"token", token}}}
	d.ID.Submit, d.ID.FixedUsername = "Create account", inv.Username
	if inv.Kind == auth.ResetKind {
		d.Title, d.ID.Submit = "Set a new password", "Set password"
	} else {
		d.ID.Upstream = s.upstreamButtons(url.Values{"invitation": {token}})
	}
	s.render(c, status, "signup", d, "")
}

func (s *Server) handleInvitationAccept() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, ok := s.readForm(c)
		if !ok {
			return
		}
		if !s.csrfValid(c, form.Get("csrf_token")) {
			s.messagePage(c, http.StatusForbidden, "Form expired", "The form was not sent from this page, or it expired. Open the link again.")
			return
		}
		ctx := c.Request.Context()
		token, username := form.Get("token"), form.Get("username")
		inv, err := s.identity.Invitation(ctx, token)
		if err == nil {
			_, err = s.identity.AcceptWithPassword(ctx, token, username, form.Get("password"))
		}
		if err != nil {
			msg, status := formError(err)
			switch {
			case msg == "":
				s.pageFailed(c, err)
			case errors.Is(err, auth.ErrInvitationInvalid):
				s.messagePage(c, status, "Link invalid", msg)
			default:
				s.invitationPage(c, status, inv, token, username, msg)
			}
			return
		}
		if inv.Kind == auth.ResetKind {
			// A reset does not sign in: the second factor, if any, is still asked at sign-in.
			s.accountSignInPage(c, http.StatusOK, inv.Username, "Password set. Sign in with it.", false)
			return
		}
		s.accountSignInPage(c, http.StatusOK, firstNonEmpty(inv.Username, username), "Account created. Sign in with your new password.", false)
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
