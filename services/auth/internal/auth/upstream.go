package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/safetext"
)

// UpstreamTTL is how long an upstream sign-in may take, from the button to the callback (and
// from the callback to the second factor).
const UpstreamTTL = 10 * time.Minute

// UpstreamClaims is what a provider vouched for in a verified ID token (and its userinfo).
type UpstreamClaims struct {
	Issuer            string
	Subject           string
	Email             string
	EmailVerified     bool
	PreferredUsername string
	Groups            []string
}

// UpstreamProvider is one OpenID provider (package upstream): it builds the authorization
// request and checks what comes back.
type UpstreamProvider interface {
	// AuthURL returns the provider's authorization URL for this state, nonce and S256 PKCE
	// challenge; an error if the provider cannot be reached (discovery).
	AuthURL(ctx context.Context, state, nonce, challenge string) (string, error)
	// Exchange redeems code with verifier and returns the claims of the verified ID token:
	// signature, issuer, audience, expiry and nonce are checked. Any failure is an error.
	Exchange(ctx context.Context, code, verifier, nonce string) (UpstreamClaims, error)
	// Issuer is the issuer the provider must announce and sign with.
	Issuer() string
}

// UpstreamPolicy is the operator's rule for one provider's people.
type UpstreamPolicy struct {
	Name        string // URL-safe id: the button's path and the callback's
	DisplayName string // the button's label
	// AllowSignup lets a person with no Coffer user yet get one at first sign-in.
	AllowSignup bool
	// EmailDomains, when set, restricts sign-up to verified emails of these domains.
	EmailDomains []string
	// Groups, when set, restricts sign-up to members of at least one of these groups (the
	// groups claim).
	Groups []string
}

// Upstreams are the configured providers, in the order their buttons show.
type Upstreams struct {
	policies  []UpstreamPolicy
	providers map[string]UpstreamProvider
}

// NewUpstreams pairs each policy with its provider (by policy name).
func NewUpstreams(policies []UpstreamPolicy, providers map[string]UpstreamProvider) *Upstreams {
	return &Upstreams{policies: policies, providers: providers}
}

// UseUpstream gives the service its upstream providers. Call before serving.
func (s *Service) UseUpstream(u *Upstreams) { s.upstream = u }

// UpstreamButtons lists the providers' names and labels for the sign-in page.
func (s *Service) UpstreamButtons() []UpstreamPolicy {
	if s.upstream == nil {
		return nil
	}
	return s.upstream.policies
}

func (s *Service) provider(name string) (UpstreamPolicy, UpstreamProvider, error) {
	if s.upstream != nil && s.st.Identities != nil {
		for _, p := range s.upstream.policies {
			if p.Name == name {
				return p, s.upstream.providers[name], nil
			}
		}
	}
	return UpstreamPolicy{}, nil, ErrUnknownProvider
}

// StartUpstream begins a sign-in at the named provider: it stores a new state, nonce and
// PKCE verifier and returns the provider's URL and the state (which the caller also binds to
// the browser). returnTo is where the browser goes once signed in; invitation, if set, is
// the token of an invitation the sign-in accepts.
func (s *Service) StartUpstream(ctx context.Context, name, returnTo, invitation string) (redirect, state string, err error) {
	_, p, err := s.provider(name)
	if err != nil {
		return "", "", err
	}
	var invHash []byte
	if invitation != "" {
		inv, err := s.Invitation(ctx, invitation)
		if err != nil {
			return "", "", err
		}
		if inv.Kind != InviteKind {
			return "", "", ErrInvitationInvalid
		}
		invHash = HashSecret(invitation)
	}
	state, nonce, verifier := randomToken(), randomToken(), randomToken()
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	u, err := p.AuthURL(ctx, state, nonce, challenge)
	if err != nil {
		return "", "", fmt.Errorf("%w: provider %s: %w", ErrUpstreamRefused, name, err)
	}
	now := s.now().UTC()
	err = s.st.Identities.SaveUpstreamLogin(ctx, UpstreamLogin{
		StateHash: HashSecret(state), Provider: name, Nonce: nonce, Verifier: verifier, ReturnTo: returnTo,
		Invitation: invHash, CreatedAt: now, ExpiresAt: now.Add(UpstreamTTL),
	})
	if err != nil {
		return "", "", err
	}
	return u, state, nil
}

// UpstreamResult is a finished upstream sign-in.
type UpstreamResult struct {
	User     User
	ReturnTo string
	// MFAToken is set when the user must still give their second factor: pass it, with the
	// code, to FinishUpstreamMFA. User is then not yet signed in.
	MFAToken string
}

// FinishUpstream completes the sign-in the provider redirected back from. state is the
// callback's state (the caller has checked it is the one bound to this browser); iss is the
// callback's iss parameter (RFC 9207), checked when present. The person is found by
// (issuer, sub); a new one gets a user if an invitation or the provider's policy allows it.
// ErrUpstreamRefused for any failed check, ErrUpstreamNotAllowed when policy says no,
// ErrInvalidCredentials for a disabled user.
func (s *Service) FinishUpstream(ctx context.Context, state, code, iss string) (UpstreamResult, error) {
	var provider string
	res, err := s.finishUpstream(ctx, state, code, iss, &provider)
	s.auditUpstream(ctx, res, provider, err)
	return res, err
}

// auditUpstream records an upstream sign-in's outcome: login.upstream for the user (waiting
// for the second factor, or signed in), login.failure with the reason.
func (s *Service) auditUpstream(ctx context.Context, res UpstreamResult, provider string, err error) {
	if err != nil {
		reason := "refused"
		switch {
		case errors.Is(err, ErrUpstreamNotAllowed):
			reason = "not_allowed"
		case errors.Is(err, ErrInvalidCredentials):
			reason = "disabled"
		case errors.Is(err, ErrInvalidOTP):
			reason = "invalid_otp"
		case errors.Is(err, ErrThrottled):
			reason = "throttled"
		case !errors.Is(err, ErrUpstreamRefused):
			return // a storage failure is not a sign-in's outcome
		}
		s.auditQuiet(ctx, Actor{}, AuditLoginFailure, "upstream:"+provider, map[string]string{"reason": reason, "provider": provider})
		return
	}
	d := map[string]string{"provider": provider, "username": res.User.Username}
	action := AuditLoginUpstream
	if res.MFAToken != "" {
		action, d["reason"] = AuditLoginMFA, "mfa_required"
	}
	s.auditQuiet(ctx, Actor{ID: res.User.ID.String()}, action, res.User.ID.String(), d)
}

// finishUpstream has FinishUpstream's checks; it names the provider once the state is known.
func (s *Service) finishUpstream(ctx context.Context, state, code, iss string, provider *string) (UpstreamResult, error) {
	if !plausibleSecret(state) || s.st.Identities == nil {
		return UpstreamResult{}, fmt.Errorf("%w: malformed state", ErrUpstreamRefused)
	}
	login, err := s.st.Identities.TakeUpstreamLogin(ctx, HashSecret(state), s.now().UTC())
	if errors.Is(err, ErrNotFound) || (err == nil && login.UserID != nil) {
		return UpstreamResult{}, fmt.Errorf("%w: unknown or expired state", ErrUpstreamRefused)
	}
	if err != nil {
		return UpstreamResult{}, err
	}
	*provider = login.Provider
	pol, p, err := s.provider(login.Provider)
	if err != nil {
		return UpstreamResult{}, fmt.Errorf("%w: provider %q no longer configured", ErrUpstreamRefused, login.Provider)
	}
	// RFC 9207: a response naming another issuer is a mix-up attack.
	if iss != "" && iss != p.Issuer() {
		return UpstreamResult{}, fmt.Errorf("%w: callback iss %q is not %q", ErrUpstreamRefused, iss, p.Issuer())
	}
	if code == "" {
		return UpstreamResult{}, fmt.Errorf("%w: no code", ErrUpstreamRefused)
	}
	claims, err := p.Exchange(ctx, code, login.Verifier, login.Nonce)
	if err != nil {
		return UpstreamResult{}, fmt.Errorf("%w: %w", ErrUpstreamRefused, err)
	}
	if claims.Issuer != p.Issuer() || claims.Subject == "" {
		return UpstreamResult{}, fmt.Errorf("%w: ID token issuer %q or subject empty", ErrUpstreamRefused, claims.Issuer)
	}
	u, err := s.upstreamUser(ctx, pol, claims, login.Invitation)
	if err != nil {
		return UpstreamResult{}, err
	}
	if u.Disabled {
		return UpstreamResult{}, ErrInvalidCredentials
	}
	res := UpstreamResult{User: u, ReturnTo: login.ReturnTo}
	if !s.cfg.UpstreamMFAExempt {
		if enrolled, _, err := s.MFAStatus(ctx, u.ID); err != nil {
			return UpstreamResult{}, err
		} else if enrolled {
			// The second factor is asked on the next page: keep the sign-in waiting.
			token, now := randomToken(), s.now().UTC()
			err := s.st.Identities.SaveUpstreamLogin(ctx, UpstreamLogin{
				StateHash: HashSecret(token), Provider: login.Provider, ReturnTo: login.ReturnTo, UserID: &u.ID,
				CreatedAt: now, ExpiresAt: now.Add(UpstreamTTL),
			})
			if err != nil {
				return UpstreamResult{}, err
			}
			res.MFAToken = token
		}
	}
	return res, nil
}

// FinishUpstreamMFA completes an upstream sign-in waiting for the user's second factor.
// The wait is used up whatever the outcome; the code is throttled with the user's password
// logins. ErrUpstreamRefused for an unknown or expired token, ErrInvalidOTP for a wrong code.
func (s *Service) FinishUpstreamMFA(ctx context.Context, token, code, address string) (UpstreamResult, error) {
	var provider string
	res, err := s.finishUpstreamMFA(ctx, token, code, address, &provider)
	s.auditUpstream(ctx, res, provider, err)
	return res, err
}

func (s *Service) finishUpstreamMFA(ctx context.Context, token, code, address string, provider *string) (UpstreamResult, error) {
	if !plausibleSecret(token) || s.st.Identities == nil {
		return UpstreamResult{}, ErrUpstreamRefused
	}
	login, err := s.st.Identities.TakeUpstreamLogin(ctx, HashSecret(token), s.now().UTC())
	if errors.Is(err, ErrNotFound) || (err == nil && login.UserID == nil) {
		return UpstreamResult{}, ErrUpstreamRefused
	}
	if err != nil {
		return UpstreamResult{}, err
	}
	*provider = login.Provider
	u, err := s.st.Account.AccountUserByID(ctx, *login.UserID)
	if err != nil || u.Disabled {
		return UpstreamResult{}, ErrInvalidCredentials
	}
	keys := throttleKeys{account: "account:" + u.Username, address: "address:" + address, pair: "pair:" + address + " " + u.Username}
	if err := s.throttle(ctx, keys); err != nil {
		return UpstreamResult{}, err
	}
	e, err := s.st.TOTP.TOTP(ctx, u.ID)
	if err != nil {
		return UpstreamResult{}, err
	}
	if err := s.useSecondFactor(ctx, e, code); err != nil {
		return UpstreamResult{}, err
	}
	for k, reset := range map[string]bool{keys.account: true, keys.pair: true, keys.address: false} {
		if err := s.st.Throttle.ForgetLoginAttempt(ctx, k, reset); err != nil {
			return UpstreamResult{}, err
		}
	}
	return UpstreamResult{User: u, ReturnTo: login.ReturnTo}, nil
}

// upstreamUser finds the user of (issuer, sub), or creates one through the invitation or
// the provider's sign-up policy.
func (s *Service) upstreamUser(ctx context.Context, pol UpstreamPolicy, c UpstreamClaims, invitation []byte) (User, error) {
	u, err := s.st.Identities.UserByIdentity(ctx, c.Issuer, c.Subject)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return u, err
	}
	now := s.now().UTC()
	if !safetext.Valid(c.Email) {
		c.Email = "" // nothing PostgreSQL's text cannot hold
	}
	id := Identity{Issuer: c.Issuer, Subject: c.Subject, Email: c.Email, CreatedAt: now}
	if invitation != nil {
		inv, err := s.st.Invitations.InvitationByHash(ctx, invitation, now)
		if err != nil {
			return User{}, fmt.Errorf("%w: invitation no longer usable", ErrUpstreamNotAllowed)
		}
		name := inv.Username
		if name == "" {
			if name, err = s.freeUsername(ctx, c); err != nil {
				return User{}, err
			}
		}
		u := User{ID: uuid.New(), Username: name, CreatedAt: now}
		id.UserID = u.ID
		if err := s.st.Invitations.AcceptInvitation(ctx, invitation, now, u, &id); err != nil {
			if errors.Is(err, ErrNotFound) {
				return User{}, fmt.Errorf("%w: invitation no longer usable", ErrUpstreamNotAllowed)
			}
			return User{}, err
		}
		return u, nil
	}
	if !pol.AllowSignup || !upstreamAllowed(pol, c) {
		return User{}, ErrUpstreamNotAllowed
	}
	name, err := s.freeUsername(ctx, c)
	if err != nil {
		return User{}, err
	}
	u = User{ID: uuid.New(), Username: name, CreatedAt: now}
	id.UserID = u.ID
	if err := s.st.Identities.CreateUserWithIdentity(ctx, u, id); err != nil {
		return User{}, err
	}
	return u, nil
}

// upstreamAllowed applies the policy's email-domain and group restrictions.
func upstreamAllowed(pol UpstreamPolicy, c UpstreamClaims) bool {
	if len(pol.EmailDomains) > 0 {
		at := strings.LastIndexByte(c.Email, '@')
		if !c.EmailVerified || at < 0 || !slices.Contains(pol.EmailDomains, strings.ToLower(c.Email[at+1:])) {
			return false
		}
	}
	if len(pol.Groups) > 0 && !slices.ContainsFunc(c.Groups, func(g string) bool { return slices.Contains(pol.Groups, g) }) {
		return false
	}
	return true
}

var notUsernameChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// freeUsername derives a username from the person's preferred username or email, adding a
// number when it is taken. The username is only a handle: the person is (issuer, sub).
func (s *Service) freeUsername(ctx context.Context, c UpstreamClaims) (string, error) {
	base := c.PreferredUsername
	if base == "" {
		base = c.Email
	}
	if at := strings.IndexByte(base, '@'); at >= 0 {
		base = base[:at]
	}
	base = strings.Trim(notUsernameChars.ReplaceAllString(strings.ToLower(base), "-"), "._-")
	if len(base) > 48 {
		base = base[:48]
	}
	if len(base) < 3 {
		base = "user-" + base
	}
	for i := range 20 {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i+1)
		}
		if _, err := ValidateUsername(name); err != nil {
			break
		}
		_, err := s.st.Users.UserByUsername(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "user-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12], nil
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
