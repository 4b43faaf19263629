package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// Identity is what the account routes and identity pages need of the domain (account.go,
// identity_pages.go, upstream_pages.go).
type Identity interface {
	AuthenticateWithCode(ctx context.Context, username, password, code, address string) (auth.User, error)
	AccountUser(ctx context.Context, subject string) (auth.User, error)
	AccountInfo(ctx context.Context, u auth.User) (auth.Account, error)
	ChangePassword(ctx context.Context, u auth.User, current, code, next, address string) error
	SignIns(ctx context.Context, u auth.User) ([]auth.SignIn, error)
	EndSignIn(ctx context.Context, u auth.User, id string) error
	StartTOTP(ctx context.Context, u auth.User) (auth.TOTPSetup, error)
	ConfirmTOTP(ctx context.Context, u auth.User, code string) ([]string, error)
	EnrolAtSignIn(ctx context.Context, username, password, code, address string) (auth.User, []string, error)
	DisableTOTP(ctx context.Context, u auth.User, code string) error
	SignUp(ctx context.Context, username, password string) (auth.User, error)
	SignupEnabled() bool
	Invitation(ctx context.Context, token string) (auth.Invitation, error)
	AcceptWithPassword(ctx context.Context, token, username, password string) (auth.User, error)
	CreateInvitation(ctx context.Context, req auth.InvitationRequest) (auth.Invitation, string, error)
	ListInvitations(ctx context.Context) ([]auth.Invitation, error)
	RevokeInvitation(ctx context.Context, actor auth.Actor, id uuid.UUID) error
	UpstreamButtons() []auth.UpstreamPolicy
	StartUpstream(ctx context.Context, provider, returnTo, invitation string) (redirect, state string, err error)
	FinishUpstream(ctx context.Context, state, code, iss string) (auth.UpstreamResult, error)
	FinishUpstreamMFA(ctx context.Context, token, code, address string) (auth.UpstreamResult, error)
}

// accountUserKey is the gin context key of the signed-in user of an account route.
const accountUserKey = "coffer.account.user"

// accountAuth requires an access token of Coffer's own first-party client (from /v1/login)
// whose subject is an enabled user: a third-party app's token, even with every files scope,
// cannot change a password or a second factor.
func (s *Server) accountAuth() gin.HandlerFunc {
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
		if claims.ClientID != auth.FirstPartyClientID {
			s.error(c, &auth.ScopeError{Scope: "account (a token from /v1/login)"})
			return
		}
		u, err := s.identity.AccountUser(c.Request.Context(), claims.Subject)
		if err != nil {
			s.error(c, fmt.Errorf("%w: subject is no enabled user", auth.ErrInvalidToken))
			return
		}
		c.Set(accountUserKey, u)
		c.Next()
	}
}

func accountUser(c *gin.Context) auth.User { return c.MustGet(accountUserKey).(auth.User) }

type accountJSON struct {
	ID           string         `json:"id"`
	Username     string         `json:"username"`
	CreatedAt    time.Time      `json:"created_at"`
	TOTP         bool           `json:"totp"`
	RecoveryLeft int            `json:"recovery_codes_left"`
	Identities   []identityJSON `json:"identities"`
}

type identityJSON struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Email   string `json:"email,omitempty"`
}

func (s *Server) handleAccount() gin.HandlerFunc {
	return func(c *gin.Context) {
		a, err := s.identity.AccountInfo(c.Request.Context(), accountUser(c))
		if err != nil {
			s.error(c, err)
			return
		}
		out := accountJSON{ID: a.User.ID.String(), Username: a.User.Username, CreatedAt: a.User.CreatedAt, TOTP: a.TOTP, RecoveryLeft: a.RecoveryLeft, Identities: []identityJSON{}}
		for _, i := range a.Identities {
			out.Identities = append(out.Identities, identityJSON{Issuer: i.Issuer, Subject: i.Subject, Email: i.Email})
		}
		encode(c, http.StatusOK, out)
	}
}

func (s *Server) handleChangePassword() gin.HandlerFunc {
	type request struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
		OTP             string `json:"otp,omitempty"`
	}
	return func(c *gin.Context) {
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		if err := s.identity.ChangePassword(c.Request.Context(), accountUser(c), req.CurrentPassword, req.OTP, req.NewPassword, c.ClientIP()); err != nil {
			s.error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

type signInJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	ClientID  string    `json:"client_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) handleListSignIns() gin.HandlerFunc {
	return func(c *gin.Context) {
		list, err := s.identity.SignIns(c.Request.Context(), accountUser(c))
		if err != nil {
			s.error(c, err)
			return
		}
		out := make([]signInJSON, 0, len(list))
		for _, si := range list {
			out = append(out, signInJSON(si))
		}
		encode(c, http.StatusOK, gin.H{"sessions": out})
	}
}

func (s *Server) handleEndSignIn() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.identity.EndSignIn(c.Request.Context(), accountUser(c), c.Param("id")); err != nil {
			s.error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

type totpSetupJSON struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	// QRCode is a PNG of the otpauth URL, as a data: URL.
	QRCode string `json:"qr_code"`
}

func (s *Server) handleStartTOTP() gin.HandlerFunc {
	return func(c *gin.Context) {
		setup, err := s.identity.StartTOTP(c.Request.Context(), accountUser(c))
		if err != nil {
			s.error(c, err)
			return
		}
		qr, err := qrDataURL(setup.URL)
		if err != nil {
			s.error(c, err)
			return
		}
		encode(c, http.StatusOK, totpSetupJSON{Secret: setup.Secret, OTPAuthURL: setup.URL, QRCode: qr})
	}
}

type codeRequest struct {
	Code string `json:"code"`
}

func (s *Server) handleConfirmTOTP() gin.HandlerFunc {
	return func(c *gin.Context) {
		req, err := decode[codeRequest](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		codes, err := s.identity.ConfirmTOTP(c.Request.Context(), accountUser(c), req.Code)
		if err != nil {
			s.error(c, err)
			return
		}
		encode(c, http.StatusOK, gin.H{"recovery_codes": codes})
	}
}

func (s *Server) handleDisableTOTP() gin.HandlerFunc {
	return func(c *gin.Context) {
		req, err := decode[codeRequest](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		if err := s.identity.DisableTOTP(c.Request.Context(), accountUser(c), req.Code); err != nil {
			s.error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// invitationJSON is an invitation as an admin sees it; the link appears only on creation.
type invitationJSON struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Username  string     `json:"username,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	URL       string     `json:"url,omitempty"`
}

// InvitationURL is the page where an invitation or reset link is used.
func InvitationURL(issuer, token string) string {
	return accesstoken.NormalizeIssuer(issuer) + "/oauth2/invitation?token=" + token
}

func newInvitationJSON(issuer string, inv auth.Invitation, token string) invitationJSON {
	out := invitationJSON{ID: inv.ID.String(), Kind: inv.Kind, Username: inv.Username, CreatedBy: inv.CreatedBy,
		CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, UsedAt: inv.UsedAt}
	if token != "" {
		out.URL = InvitationURL(issuer, token)
	}
	return out
}

// invitationRoutes are the admin API's invitation and password-reset routes, in the admin
// group (its admin check runs first).
func (s *Server) invitationRoutes(g *gin.RouterGroup) {
	g.POST("/invitations", s.handleCreateInvitation())
	g.GET("/invitations", s.handleListInvitations())
	g.DELETE("/invitations/:id", s.handleRevokeInvitation())
}

// handleRevokeInvitation makes an unused invitation or reset link unusable at once.
func (s *Server) handleRevokeInvitation() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := uuid.Parse(c.Param("id"))
		if err != nil || len(c.Param("id")) != 36 {
			s.problem(c, problem.New(http.StatusNotFound, "not_found", "no such unused invitation"))
			return
		}
		if err := s.identity.RevokeInvitation(c.Request.Context(), actorOf(c), id); err != nil {
			if errors.Is(err, auth.ErrNotFound) {
				s.problem(c, problem.New(http.StatusNotFound, "not_found", "no such unused invitation"))
				return
			}
			s.error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

func (s *Server) handleListInvitations() gin.HandlerFunc {
	return func(c *gin.Context) {
		list, err := s.identity.ListInvitations(c.Request.Context())
		if err != nil {
			s.error(c, err)
			return
		}
		out := make([]invitationJSON, 0, len(list))
		for _, inv := range list {
			out = append(out, newInvitationJSON(s.issuer, inv, ""))
		}
		encode(c, http.StatusOK, gin.H{"invitations": out})
	}
}

// handleCreateInvitation creates an invitation (kind invite, optionally with a fixed
// username) or a password reset (kind reset: the user's password is cleared and their
// sign-ins end at once); the answer carries the one-time link, shown only now.
func (s *Server) handleCreateInvitation() gin.HandlerFunc {
	type request struct {
		Kind     string `json:"kind,omitempty"` // invite (default) or reset
		Username string `json:"username,omitempty"`
		TTL      string `json:"ttl,omitempty"` // a Go duration, e.g. "72h"
	}
	return func(c *gin.Context) {
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		var ttl time.Duration
		if req.TTL != "" {
			if ttl, err = time.ParseDuration(req.TTL); err != nil {
				s.error(c, auth.Invalid("ttl must be a duration such as 72h"))
				return
			}
		}
		if req.Kind == "" {
			req.Kind = auth.InviteKind
		}
		actor := actorOf(c)
		inv, token, err := s.identity.CreateInvitation(c.Request.Context(), auth.InvitationRequest{
			Kind: req.Kind, Username: req.Username, CreatedBy: actor.ID, TTL: ttl, Actor: actor})
		if err != nil {
			s.error(c, err)
			return
		}
		encode(c, http.StatusCreated, newInvitationJSON(s.issuer, inv, token))
	}
}

// sessionHashID is the account id of the browser's own sign-in session, to mark it.
func sessionHashID(token string) string {
	return auth.SessionID(auth.HashSecret(token))
}
