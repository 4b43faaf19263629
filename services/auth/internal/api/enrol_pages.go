package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/metrics"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// When the operator requires a second factor of everyone with a password
// (COFFER_AUTH_MFA_REQUIRED), a person without one whose password was right is led to set it
// up there and then: the sign-in form (of an authorization request or of the account page)
// answers with a new TOTP secret and a form for the password and a code, which turns the
// factor on, shows the recovery codes and signs them in. Nothing of the first attempt is
// kept: the form carries the username only, and the password is checked again.

// enrolPage starts a TOTP enrolment for the user of need (an *auth.EnrolmentRequiredError
// in err's chain) and shows it, with a form posted to action carrying hidden and action=enrol.
func (s *Server) enrolPage(c *gin.Context, err error, action string, hidden []hiddenField, target, msg string) {
	var need *auth.EnrolmentRequiredError
	if s.identity == nil || !errors.As(err, &need) {
		s.pageFailed(c, err)
		return
	}
	setup, err := s.identity.StartTOTP(c.Request.Context(), need.User)
	if err != nil {
		s.pageFailed(c, err)
		return
	}
	qr, err := qrDataURL(setup.URL)
	if err != nil {
		s.pageFailed(c, err)
		return
	}
	d := pageData{Title: "Set up two-factor authentication", Error: msg, Username: need.User.Username, Action: action,
		Hidden: append(hidden, hiddenField{"action", "enrol"})}
	d.ID.QR, d.ID.Secret = safeDataURL(qr), setup.Secret
	s.render(c, http.StatusOK, "enrol", d, target)
}

// authorizeHidden are the hidden fields of an authorization request's forms.
func (s *Server) authorizeHidden(c *gin.Context, values url.Values) []hiddenField {
	out := []hiddenField{{"csrf_token", s.csrfToken(c)}}
	for _, n := range authorizeParamNames {
		if v := values.Get(n); v != "" {
			out = append(out, hiddenField{n, v})
		}
	}
	return out
}

// enrolForm handles the enrolment form of an authorization request: on success the person
// has a sign-in session, sees their recovery codes once, and continues to the application
// (the authorization request again, now answered at once with a code).
func (s *Server) enrolForm(c *gin.Context, req auth.AuthorizeRequest, values url.Values) {
	if !s.csrfValid(c, values.Get("csrf_token")) {
		s.messagePage(c, http.StatusForbidden, "Sign-in form expired",
			"The sign-in form was not sent from this page, or it expired. Go back to the application and sign in again.")
		return
	}
	if s.identity == nil {
		s.signInPage(c, http.StatusOK, req, values, "", "")
		return
	}
	username := values.Get("username")
	c.Set(loginAttemptKey, true)
	u, codes, err := s.identity.EnrolAtSignIn(c.Request.Context(), username, values.Get("password"), values.Get("otp"), c.ClientIP())
	var throttled *auth.ThrottledError
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrInvalidOTP):
		c.Set(metrics.CodeKey, "invalid_otp")
		s.enrolPage(c, err, s.basePath+"/oauth2/authorize", s.authorizeHidden(c, values), formTarget(req.RedirectURI),
			"That code did not match. Add this new code to your app and try again.")
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
	default:
		s.authorizeFailed(c, req, err)
		return
	}
	if !s.startBrowserSession(c, u) {
		return
	}
	if len(codes) == 0 { // no second factor was needed after all
		s.redirectWithCode(c, http.StatusSeeOther, req, u)
		return
	}
	d := pageData{Title: "Recovery codes"}
	d.ID.Base, d.ID.Codes = s.basePath, codes
	d.ID.ContinueURL = s.basePath + "/oauth2/authorize?" + authorizeQuery(values).Encode()
	s.render(c, http.StatusOK, "codes", d, "")
}

// accountEnrolForm is enrolForm for the account page's sign-in: it ends on the recovery
// codes, with a link to the account page.
func (s *Server) accountEnrolForm(c *gin.Context, form url.Values) {
	username := form.Get("username")
	u, codes, err := s.identity.EnrolAtSignIn(c.Request.Context(), username, form.Get("password"), form.Get("otp"), c.ClientIP())
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrInvalidOTP):
		s.enrolPage(c, err, s.basePath+"/oauth2/account/signin", []hiddenField{{"csrf_token", s.csrfToken(c)}}, "",
			"That code did not match. Add this new code to your app and try again.")
		return
	case errors.Is(err, auth.ErrThrottled):
		retryAfter(c, err)
		s.accountSignInPage(c, http.StatusTooManyRequests, username, "Too many sign-in attempts. Try again later.", false)
		return
	case errors.Is(err, auth.ErrInvalidCredentials):
		s.accountSignInPage(c, http.StatusUnauthorized, username, "Invalid username or password.", false)
		return
	default:
		s.pageFailed(c, err)
		return
	}
	if !s.startBrowserSession(c, u) {
		return
	}
	if len(codes) == 0 {
		c.Redirect(http.StatusSeeOther, s.basePath+"/oauth2/account")
		return
	}
	d := pageData{Title: "Recovery codes"}
	d.ID.Base, d.ID.Codes = s.basePath, codes
	s.render(c, http.StatusOK, "codes", d, "")
}
