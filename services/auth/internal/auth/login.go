package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/safetext"
)

// LoginRequest is a password login.
type LoginRequest struct {
	Username string
	Password string
	Scopes   []string
	// Address is the client's network address, for per-address throttling.
	Address string
	// OTP is a TOTP or recovery code, required of users with a second factor.
	OTP string
}

// Login checks a username and password and issues an access token and a refresh token.
// Unknown users, disabled users and wrong passwords all return ErrInvalidCredentials after
// the same amount of hashing work. Too many attempts for the username or from the address
// within the window return a *ThrottledError before any hashing; ErrBusy when no hashing
// slot frees within Config.HashWait.
func (s *Service) Login(ctx context.Context, req LoginRequest) (TokenResponse, error) {
	granted, err := narrowScopes(req.Scopes, accesstoken.AllScopes, s.cfg.DefaultScopes)
	if err != nil {
		return TokenResponse{}, err
	}
	u, err := s.AuthenticateWithCode(ctx, req.Username, req.Password, req.OTP, req.Address)
	if err != nil {
		return TokenResponse{}, err
	}
	now := s.now().UTC()
	return s.issueForUser(ctx, u.ID, FirstPartyClientID, granted, s.newFamily(u.ID, FirstPartyClientID, granted, now), s.st.Refresh.CreateRefreshToken)
}

// Authenticate checks a username and password under the login throttle (the rules of
// Login) and returns the user; a user with a second factor gets ErrMFARequired (see
// AuthenticateWithCode).
func (s *Service) Authenticate(ctx context.Context, username, pw, address string) (User, error) {
	return s.AuthenticateWithCode(ctx, username, pw, "", address)
}

// authenticateWithCode checks a username, password and, for a user with a second factor, a
// TOTP or recovery code, all under one login throttle, and returns the user. Both /v1/login
// and the authorization endpoint's sign-in form go through it. With the password right:
// ErrMFARequired when a code is needed and missing, ErrMFAEnrollmentRequired when the
// operator requires a second factor the user lacks (neither counts as a failure), and
// ErrInvalidOTP for a wrong or used code (which counts, like a wrong password).
// AuthenticateWithCode (audit_hooks.go) wraps it with the audit log.
func (s *Service) authenticateWithCode(ctx context.Context, username, pw, code, address string) (User, error) {
	// Neither can match: refuse before any hashing or storage (a username longer than any
	// valid one cannot exist, so this tells nothing about which users do).
	if len(pw) > MaxPasswordBytes || len(username) > maxUsernameLen || !safetext.Valid(username) {
		return User{}, ErrInvalidCredentials
	}
	username = strings.ToLower(username)
	keys := loginKeys(username, address)
	if err := s.throttle(ctx, keys); err != nil {
		return User{}, err
	}
	u, err := s.st.Users.UserByUsername(ctx, username)
	switch {
	case errors.Is(err, ErrNotFound):
		u = User{} // Verify against the dummy hash below.
	case err != nil:
		return User{}, err
	}
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HashWait)
	err = s.hasher.Verify(hctx, pw, u.PasswordHash)
	cancel()
	if errors.Is(err, ErrBusy) {
		// Not the caller's fault: the attempt does not count.
		for _, k := range []string{keys.account, keys.address, keys.pair} {
			_ = s.st.Throttle.ForgetLoginAttempt(ctx, k, false)
		}
		return User{}, ErrBusy
	}
	if err != nil || u.Disabled {
		return User{}, ErrInvalidCredentials
	}
	if err := s.secondFactor(ctx, u, code); err != nil {
		if errors.Is(err, ErrMFARequired) || errors.Is(err, ErrMFAEnrollmentRequired) {
			// The next step of a sign-in, not a failure: the attempt is given back.
			for _, k := range []string{keys.account, keys.address, keys.pair} {
				_ = s.st.Throttle.ForgetLoginAttempt(ctx, k, false)
			}
		}
		if errors.Is(err, ErrMFAEnrollmentRequired) {
			return User{}, &EnrolmentRequiredError{User: u}
		}
		return User{}, err
	}
	// Only failures count: a success clears the account's counts and gives the address its
	// attempt back.
	for k, reset := range map[string]bool{keys.account: true, keys.pair: true, keys.address: false} {
		if err := s.st.Throttle.ForgetLoginAttempt(ctx, k, reset); err != nil {
			return User{}, err
		}
	}
	return u, nil
}

// newFamily is the first refresh token of a new family (its hash is set when issued).
func (s *Service) newFamily(userID uuid.UUID, clientID string, scopes []string, now time.Time) RefreshToken {
	return RefreshToken{
		ID: uuid.New(), FamilyID: uuid.New(), UserID: userID, ClientID: clientID, Scope: strings.Join(scopes, " "),
		CreatedAt: now, ExpiresAt: now.Add(min(s.cfg.RefreshIdleTTL, s.cfg.RefreshTTL)), FamilyExpiresAt: now.Add(s.cfg.RefreshTTL),
	}
}

// throttleKeys are the counters one login attempt touches.
type throttleKeys struct{ account, address, pair string }

// loginKeys are the counters of an attempt at username (lower case) from address.
func loginKeys(username, address string) throttleKeys {
	return throttleKeys{account: "account:" + username, address: "address:" + address, pair: "pair:" + address + " " + username}
}

// throttle counts one attempt against each key and refuses once a key is over its limit.
// Counting first (one atomic statement) keeps parallel attempts on several replicas from
// slipping past the limit together.
func (s *Service) throttle(ctx context.Context, k throttleKeys) error {
	now := s.now().UTC()
	counts, err := s.st.Throttle.CountLoginAttempt(ctx, []string{k.account, k.address, k.pair}, now, now.Add(-s.cfg.LoginWindow))
	if err != nil {
		return err
	}
	var wait time.Duration
	for _, a := range counts {
		limit := s.cfg.AddressAttempts
		switch a.Key {
		case k.account:
			limit = s.cfg.AccountAttempts
		case k.pair:
			limit = s.cfg.PairAttempts
		}
		if a.Count > limit {
			wait = max(wait, a.WindowStart.Add(s.cfg.LoginWindow).Sub(now))
		}
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: max(wait, time.Second)}
	}
	return nil
}
