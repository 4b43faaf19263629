package api

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// The account page (/oauth2/account) is a person's own: their second factor, password and
// sign-ins. It uses the sign-in session of the authorization page, so a person who signed in
// to an application is signed in here too; without one it shows its own sign-in form.

// sessionUser returns the browser's signed-in user and session token, if any.
func (s *Server) sessionUser(c *gin.Context) (auth.User, string, bool) {
	v, err := s.cookie(c, sessionCookie)
	if err != nil {
		return auth.User{}, "", false
	}
	u, err := s.accounts.SessionUser(c.Request.Context(), v)
	if err != nil {
		if !errors.Is(err, auth.ErrNotFound) {
			s.logger.ErrorContext(c.Request.Context(), "session user", "err", err)
		}
		return auth.User{}, "", false
	}
	return u, v, true
}

func (s *Server) handleAccountPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		u, token, ok := s.sessionUser(c)
		if !ok {
			s.accountSignInPage(c, http.StatusOK, "", "", false)
			return
		}
		s.accountPage(c, http.StatusOK, u, token, "", "")
	}
}

func (s *Server) accountSignInPage(c *gin.Context, status int, username, msg string, askOTP bool) {
	d := pageData{Title: "Sign in to your account", Error: msg, Username: username, Action: s.basePath + "/oauth2/account/signin",
		Hidden: []hiddenField{{"csrf_token", s.csrfToken(c)}}}
	d.ID.AskOTP = askOTP
	d.ID.Upstream = s.upstreamButtons(url.Values{"to": {"account"}})
	s.render(c, status, "signin", d, "")
}

func (s *Server) accountPage(c *gin.Context, status int, u auth.User, token, msg, errMsg string) {
	ctx := c.Request.Context()
	a, err := s.identity.AccountInfo(ctx, u)
	if err != nil {
		s.pageFailed(c, err)
		return
	}
	list, err := s.identity.SignIns(ctx, u)
	if err != nil {
		s.pageFailed(c, err)
		return
	}
	d := pageData{Title: "Your account", Message: msg, Error: errMsg, Username: u.Username}
	d.ID.Base, d.ID.CSRF = s.basePath, s.csrfToken(c)
	d.ID.TOTP, d.ID.RecoveryLeft = a.TOTP, a.RecoveryLeft
	current := sessionHashID(token)
	for _, si := range list {
		d.ID.Sessions = append(d.ID.Sessions, sessionRow{SignIn: si, Current: si.ID == current})
	}
	s.render(c, status, "account", d, "")
}

func (s *Server) pageFailed(c *gin.Context, err error) {
	s.logger.ErrorContext(c.Request.Context(), "page failed", "path", c.Request.URL.Path, "err", err)
	s.messagePage(c, http.StatusInternalServerError, "Something went wrong", "Try again later.")
}

// accountForm checks an account form's CSRF token and session; on failure it has answered.
func (s *Server) accountForm(c *gin.Context) (url.Values, auth.User, string, bool) {
	form, ok := s.readForm(c)
	if !ok {
		return nil, auth.User{}, "", false
	}
	if !s.csrfValid(c, form.Get("csrf_token")) {
		s.messagePage(c, http.StatusForbidden, "Form expired", "The form was not sent from this page, or it expired. Open your account page again.")
		return nil, auth.User{}, "", false
	}
	u, token, ok := s.sessionUser(c)
	if !ok {
		s.accountSignInPage(c, http.StatusUnauthorized, "", "Your sign-in ended. Sign in again.", false)
		return nil, auth.User{}, "", false
	}
	return form, u, token, true
}

func (s *Server) handleAccountSignIn() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, ok := s.readForm(c)
		if !ok {
			return
		}
		if !s.csrfValid(c, form.Get("csrf_token")) {
			s.messagePage(c, http.StatusForbidden, "Form expired", "The form was not sent from this page, or it expired. Open your account page again.")
			return
		}
		if form.Get("action") == "enrol" {
			s.accountEnrolForm(c, form) // enrol_pages.go
			return
		}
		username := form.Get("username")
		u, err := s.identity.AuthenticateWithCode(c.Request.Context(), username, form.Get("password"), form.Get("otp"), c.ClientIP())
		switch {
		case err == nil:
		case errors.Is(err, auth.ErrMFARequired):
			s.accountSignInPage(c, http.StatusUnauthorized, username, "Enter your password again with the code from your authenticator app (or a recovery code).", true)
			return
		case errors.Is(err, auth.ErrInvalidOTP):
			s.accountSignInPage(c, http.StatusUnauthorized, username, "That code is wrong or was already used.", true)
			return
		case errors.Is(err, auth.ErrInvalidCredentials):
			s.accountSignInPage(c, http.StatusUnauthorized, username, "Invalid username or password.", false)
			return
		case errors.Is(err, auth.ErrThrottled):
			retryAfter(c, err)
			s.accountSignInPage(c, http.StatusTooManyRequests, username, "Too many sign-in attempts. Try again later.", false)
			return
		case errors.Is(err, auth.ErrMFAEnrollmentRequired):
			s.enrolPage(c, err, s.basePath+"/oauth2/account/signin", []hiddenField{{"csrf_token", s.csrfToken(c)}}, "", "")
			return
		default:
			if msg, status := formError(err); msg != "" {
				s.accountSignInPage(c, status, username, msg, false)
				return
			}
			s.pageFailed(c, err)
			return
		}
		if !s.startBrowserSession(c, u) {
			return
		}
		c.Redirect(http.StatusSeeOther, s.basePath+"/oauth2/account")
	}
}

func (s *Server) handleAccountTOTPStart() gin.HandlerFunc {
	return func(c *gin.Context) {
		_, u, token, ok := s.accountForm(c)
		if !ok {
			return
		}
		setup, err := s.identity.StartTOTP(c.Request.Context(), u)
		if errors.Is(err, auth.ErrTOTPEnrolled) {
			s.accountPage(c, http.StatusConflict, u, token, "", "Two-factor authentication is already on.")
			return
		}
		if err != nil {
			s.pageFailed(c, err)
			return
		}
		qr, err := qrDataURL(setup.URL)
		if err != nil {
			s.pageFailed(c, err)
			return
		}
		d := pageData{Title: "Set up two-factor authentication"}
		d.ID.Base, d.ID.CSRF = s.basePath, s.csrfToken(c)
		d.ID.QR, d.ID.Secret = safeDataURL(qr), setup.Secret
		s.render(c, http.StatusOK, "totp", d, "")
	}
}

func (s *Server) handleAccountTOTPConfirm() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, u, token, ok := s.accountForm(c)
		if !ok {
			return
		}
		codes, err := s.identity.ConfirmTOTP(c.Request.Context(), u, form.Get("otp"))
		switch {
		case errors.Is(err, auth.ErrInvalidOTP), errors.Is(err, auth.ErrNotFound):
			s.accountPage(c, http.StatusBadRequest, u, token, "", "That code did not match. Set up two-factor authentication again.")
			return
		case errors.Is(err, auth.ErrTOTPEnrolled):
			s.accountPage(c, http.StatusConflict, u, token, "", "Two-factor authentication is already on.")
			return
		case err != nil:
			s.pageFailed(c, err)
			return
		}
		d := pageData{Title: "Recovery codes"}
		d.ID.Base, d.ID.Codes = s.basePath, codes
		s.render(c, http.StatusOK, "codes", d, "")
	}
}

func (s *Server) handleAccountPassword() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, u, token, ok := s.accountForm(c)
		if !ok {
			return
		}
		err := s.identity.ChangePassword(c.Request.Context(), u, form.Get("current_password"), form.Get("otp"), form.Get("new_password"), c.ClientIP())
		switch {
		case err == nil:
			// Every sign-in ended with the old password, this one too.
			s.accountSignInPage(c, http.StatusOK, u.Username, "Password changed. Every sign-in has ended: sign in with the new password.", false)
		case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrInvalidOTP), errors.Is(err, auth.ErrMFARequired):
			s.accountPage(c, http.StatusUnauthorized, u, token, "", "The current password or code is wrong.")
		case errors.Is(err, auth.ErrThrottled):
			retryAfter(c, err)
			s.accountPage(c, http.StatusTooManyRequests, u, token, "", "Too many attempts. Try again later.")
		default:
			if msg, status := formError(err); msg != "" {
				s.accountPage(c, status, u, token, "", msg)
				return
			}
			s.pageFailed(c, err)
		}
	}
}

func (s *Server) handleAccountEndSession() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, u, token, ok := s.accountForm(c)
		if !ok {
			return
		}
		err := s.identity.EndSignIn(c.Request.Context(), u, form.Get("id"))
		switch {
		case errors.Is(err, auth.ErrNotFound):
			s.accountPage(c, http.StatusNotFound, u, token, "", "That sign-in had already ended.")
		case err != nil:
			s.pageFailed(c, err)
		case form.Get("id") == sessionHashID(token):
			s.accountSignInPage(c, http.StatusOK, u.Username, "Signed out.", false)
		default:
			s.accountPage(c, http.StatusOK, u, token, "Sign-in ended.", "")
		}
	}
}
