package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pquerna/otp"

	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// identityPage is what the identity pages add to a page (pages/identity.html).
type identityPage struct {
	AskOTP        bool
	Upstream      []upstreamButton
	SignupURL     string
	BackURL       string
	FixedUsername string
	Submit        string
	Base          string
	CSRF          string
	TOTP          bool
	RecoveryLeft  int
	Sessions      []sessionRow
	QR            template.URL
	Secret        string
	Codes         []string
	ContinueURL   string // where the recovery codes page goes on (a sign-in that enrolled)
}

type upstreamButton struct{ URL, Label string }

// askOTPKey marks a request whose sign-in page must ask for the second factor.
const askOTPKey = "coffer.ask_otp"

type sessionRow struct {
	auth.SignIn
	Current bool
}

// upstreamCookie binds an upstream sign-in's state (and then its wait for the second
// factor) to the browser that started it. The identity pages' forms use the sign-in pages'
// CSRF cookie (csrfToken).
const upstreamCookie = "coffer_upstream"

// identityProblem maps the identity errors to problems (called from toProblem); nil for
// any other error.
func identityProblem(err error) *problem.Details {
	switch {
	case errors.Is(err, auth.ErrMFARequired):
		return problem.New(http.StatusUnauthorized, "mfa_required", "this account has a second factor: send the code from its authenticator app (or a recovery code) in the otp field")
	case errors.Is(err, auth.ErrInvalidOTP):
		return problem.New(http.StatusUnauthorized, "invalid_otp", "the one-time code is wrong, expired or already used")
	case errors.Is(err, auth.ErrMFAEnrollmentRequired):
		return problem.New(http.StatusForbidden, "mfa_enrollment_required", "a second factor is required: set it up by signing in on the sign-in page")
	case errors.Is(err, auth.ErrTOTPEnrolled):
		return problem.New(http.StatusConflict, "totp_enrolled", "two-factor authentication is already on")
	case errors.Is(err, auth.ErrInvitationInvalid):
		return problem.New(http.StatusNotFound, "invitation_invalid", "the link is unknown, used or expired")
	case errors.Is(err, auth.ErrNoSealer):
		return problem.New(http.StatusServiceUnavailable, "unavailable", "two-factor authentication is not available on this node")
	}
	return nil
}

func (s *Server) signupEnabled() bool { return s.identity != nil && s.identity.SignupEnabled() }

// authenticateForm checks a sign-in form's password and code.
func (s *Server) authenticateForm(ctx context.Context, username, password, code, address string) (auth.User, error) {
	if s.identity == nil {
		return s.accounts.Authenticate(ctx, username, password, address)
	}
	return s.identity.AuthenticateWithCode(ctx, username, password, code, address)
}

// authorizeQuery is the authorization request's parameters, to carry into links.
func authorizeQuery(values url.Values) url.Values {
	q := url.Values{}
	for _, n := range authorizeParamNames {
		if v := values.Get(n); v != "" {
			q.Set(n, v)
		}
	}
	return q
}

// signInAlternatives adds the upstream buttons and the sign-up link to an authorization
// request's sign-in page.
func (s *Server) signInAlternatives(c *gin.Context, d *pageData, values url.Values) {
	d.ID.AskOTP = c.GetBool(askOTPKey)
	q := authorizeQuery(values)
	d.ID.Upstream = s.upstreamButtons(q)
	if s.signupEnabled() {
		q.Set("screen", "signup")
		d.ID.SignupURL = s.basePath + "/oauth2/authorize?" + q.Encode()
	}
}

func (s *Server) upstreamButtons(q url.Values) []upstreamButton {
	if s.identity == nil {
		return nil
	}
	var out []upstreamButton
	for _, p := range s.identity.UpstreamButtons() {
		u := s.basePath + "/oauth2/upstream/start/" + url.PathEscape(p.Name)
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		out = append(out, upstreamButton{URL: u, Label: p.DisplayName})
	}
	return out
}

// signInMFAPage asks for the second factor (with the password again: nothing of the first
// attempt is kept).
func (s *Server) signInMFAPage(c *gin.Context, req auth.AuthorizeRequest, values url.Values, username string, err error) {
	msg, status := "Enter your password again with the code from your authenticator app (or a recovery code).", http.StatusUnauthorized
	switch {
	case errors.Is(err, auth.ErrInvalidOTP):
		msg = "That code is wrong or was already used. Enter your password and a new code."
	case errors.Is(err, auth.ErrMFAEnrollmentRequired):
		msg, status = "Two-factor authentication is required for your account: sign in to your account page to set it up.", http.StatusForbidden
	}
	c.Set(askOTPKey, true)
	s.signInPage(c, status, req, values, username, msg)
}

// signUpPage shows the sign-up form of an authorization request.
func (s *Server) signUpPage(c *gin.Context, status int, req auth.AuthorizeRequest, values url.Values, username, msg string) {
	csrf := s.csrfToken(c)
	q := authorizeQuery(values)
	d := pageData{Title: "Create account", Error: msg, ClientID: req.Client.ID, Username: username, Action: s.basePath + "/oauth2/authorize",
		Hidden: []hiddenField{{"csrf_token", csrf}, {"action", "signup"}}}
	for _, n := range authorizeParamNames {
		if v := q.Get(n); v != "" {
			d.Hidden = append(d.Hidden, hiddenField{n, v})
		}
	}
	d.ID.Submit = "Create account"
	d.ID.BackURL = s.basePath + "/oauth2/authorize?" + q.Encode()
	s.render(c, status, "signup", d, formTarget(req.RedirectURI))
}

// signUpForm creates the account, signs the new user in and continues the authorization
// request.
func (s *Server) signUpForm(c *gin.Context, req auth.AuthorizeRequest, values url.Values) {
	if !s.csrfValid(c, values.Get("csrf_token")) {
		s.messagePage(c, http.StatusForbidden, "Form expired", "The form was not sent from this page, or it expired. Go back to the application and try again.")
		return
	}
	username := values.Get("username")
	if !s.signupEnabled() {
		s.signUpPage(c, http.StatusForbidden, req, values, username, "Sign-up is off. Ask an administrator for an invitation.")
		return
	}
	u, err := s.identity.SignUp(c.Request.Context(), username, values.Get("password"))
	if msg, status := formError(err); msg != "" {
		s.signUpPage(c, status, req, values, username, msg)
		return
	}
	if err != nil {
		s.authorizeFailed(c, req, err)
		return
	}
	if !s.startBrowserSession(c, u) {
		return
	}
	s.redirectWithCode(c, http.StatusSeeOther, req, u)
}

// formError turns an error a person can fix into a message and status; "" for others.
func formError(err error) (string, int) {
	var input *auth.InputError
	switch {
	case err == nil:
	case errors.As(err, &input):
		return "Invalid input: " + input.Reason + ".", http.StatusBadRequest
	case errors.Is(err, auth.ErrUsernameTaken):
		return "That username is taken.", http.StatusConflict
	case errors.Is(err, auth.ErrSignupDisabled):
		return "Sign-up is off. Ask an administrator for an invitation.", http.StatusForbidden
	case errors.Is(err, auth.ErrBusy):
		return "The service is busy. Try again in a moment.", http.StatusServiceUnavailable
	case errors.Is(err, auth.ErrInvitationInvalid):
		return "This link is unknown, already used or expired.", http.StatusNotFound
	}
	return "", 0
}

// startBrowserSession opens a sign-in session and sets its cookie; false if it failed (and
// a page says so).
func (s *Server) startBrowserSession(c *gin.Context, u auth.User) bool {
	token, exp, err := s.accounts.StartSession(c.Request.Context(), u.ID)
	if err != nil {
		s.logger.ErrorContext(c.Request.Context(), "start session", "err", err)
		s.messagePage(c, http.StatusInternalServerError, "Sign-in failed", "Something went wrong. Try again later.")
		return false
	}
	s.setCookie(c, sessionCookie, token, time.Until(exp), http.SameSiteLaxMode)
	return true
}

// qrDataURL draws an otpauth URL as a PNG QR code in a data: URL.
func qrDataURL(otpauth string) (string, error) {
	key, err := otp.NewKeyFromURL(otpauth)
	if err != nil {
		return "", err
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// readForm reads a posted form; on failure it has answered.
func (s *Server) readForm(c *gin.Context) (url.Values, bool) {
	form, err := s.decodeForm(c)
	if err != nil {
		s.messagePage(c, http.StatusBadRequest, "Request refused", "The form could not be read.")
		return nil, false
	}
	return form, true
}

func retryAfter(c *gin.Context, err error) {
	var throttled *auth.ThrottledError
	if errors.As(err, &throttled) {
		c.Header("Retry-After", strconv.Itoa(int((throttled.RetryAfter+time.Second-1)/time.Second)))
	}
}
