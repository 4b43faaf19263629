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

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/auth/internal/password"
)

// PasswordHasher hashes and checks passwords (package password).
type PasswordHasher interface {
	// Hash returns the encoded hash; password.ErrBusy when no slot frees before ctx ends.
	Hash(ctx context.Context, pw string) (string, error)
	// Verify returns nil on a match; an empty hash must cost as much as a real one.
	Verify(ctx context.Context, pw, hash string) error
}

// AccessTokenIssuer signs access tokens (package keys).
type AccessTokenIssuer interface {
	Issue(ctx context.Context, subject, clientID string, scopes []string) (token string, ttl time.Duration, err error)
}

// FirstPartyClientID is the client_id of tokens issued through the login endpoint, which
// serves Coffer's own clients (CLI, web).
const FirstPartyClientID = "coffer"

// Config holds the Service's policy settings. Zero values take the defaults named here.
type Config struct {
	// SignupEnabled allows self-service sign-up. Default off.
	SignupEnabled bool
	// RefreshTTL is a refresh token family's absolute lifetime. Default 30 days.
	RefreshTTL time.Duration
	// RefreshIdleTTL is how long an unused refresh token stays valid. Default 7 days.
	RefreshIdleTTL time.Duration
	// DefaultScopes are granted to users when a request names none. Default files:read files:write.
	DefaultScopes []string
	// HashWait bounds how long a login waits for a password-hashing slot before ErrBusy.
	// Default 2s.
	HashWait time.Duration
	// LoginWindow is the throttling window. Default 15 minutes.
	LoginWindow time.Duration
	// PairAttempts is how many failed logins one username may take per window from one
	// client address. Default 10. This is the limit a single guesser meets; it does not lock
	// the real user, who comes from another address, out.
	PairAttempts int
	// AccountAttempts is how many failed logins one username may take per window, from all
	// addresses together: the limit for a guesser spread over many addresses. Default 50.
	AccountAttempts int
	// AddressAttempts is how many failed logins one client address may make per window,
	// for any usernames. Default 100.
	AddressAttempts int
}

// Service implements sign-up, login and the OAuth 2.0 token and revocation endpoints.
type Service struct {
	st     Stores
	hasher PasswordHasher
	issuer AccessTokenIssuer
	cfg    Config
	now    func() time.Time
	// dummyClientHash is compared against when a client id is unknown, so that unknown and
	// known clients cost the same.
	dummyClientHash []byte
}

// NewService wires a Service. now is the clock (nil: time.Now).
func NewService(st Stores, hasher PasswordHasher, issuer AccessTokenIssuer, cfg Config, now func() time.Time) *Service {
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.RefreshIdleTTL == 0 {
		cfg.RefreshIdleTTL = 7 * 24 * time.Hour
	}
	if cfg.DefaultScopes == nil {
		cfg.DefaultScopes = []string{accesstoken.ScopeFilesRead, accesstoken.ScopeFilesWrite}
	}
	if cfg.HashWait == 0 {
		cfg.HashWait = 2 * time.Second
	}
	if cfg.LoginWindow == 0 {
		cfg.LoginWindow = 15 * time.Minute
	}
	if cfg.PairAttempts == 0 {
		cfg.PairAttempts = 10
	}
	if cfg.AccountAttempts == 0 {
		cfg.AccountAttempts = 50
	}
	if cfg.AddressAttempts == 0 {
		cfg.AddressAttempts = 100
	}
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, hasher: hasher, issuer: issuer, cfg: cfg, now: now, dummyClientHash: HashSecret("coffer-dummy-client")}
}

var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,63}$`)

// maxUsernameLen is the longest valid username, in bytes.
const maxUsernameLen = 64

// ValidateUsername checks a username: 3 to 64 of a-z, 0-9, '.', '_', '-', starting with a
// letter or digit. Usernames are compared case-insensitively, so they are stored lower-case.
func ValidateUsername(u string) (string, error) {
	u = strings.ToLower(u)
	if !usernamePattern.MatchString(u) {
		return "", fmt.Errorf("%w: username must be 3-64 characters of a-z, 0-9, '.', '_' or '-'", ErrInvalidInput)
	}
	return u, nil
}

// SignUp creates a user with a password; ErrSignupDisabled when self-service sign-up is off.
func (s *Service) SignUp(ctx context.Context, username, pw string) (User, error) {
	if !s.cfg.SignupEnabled {
		return User{}, ErrSignupDisabled
	}
	return s.CreateUser(ctx, username, pw)
}

// CreateUser creates a user regardless of the sign-up setting (for admin commands).
func (s *Service) CreateUser(ctx context.Context, username, pw string) (User, error) {
	username, err := ValidateUsername(username)
	if err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, mapPasswordErr(err)
	}
	u := User{ID: uuid.New(), Username: username, PasswordHash: hash, CreatedAt: s.now().UTC()}
	if err := s.st.Users.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

// DisableUser disables a user and ends every refresh token family they hold; ErrNotFound if
// there is no such user.
func (s *Service) DisableUser(ctx context.Context, username string) error {
	return s.st.Users.DisableUser(ctx, strings.ToLower(username), s.now().UTC())
}

// SetPassword changes a user's password and ends every refresh token family they hold.
func (s *Service) SetPassword(ctx context.Context, username, pw string) error {
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return mapPasswordErr(err)
	}
	return s.st.Users.SetPasswordHash(ctx, strings.ToLower(username), hash, s.now().UTC())
}

// LoginRequest is a password login.
type LoginRequest struct {
	Username string
	Password string
	Scopes   []string
	// Address is the client's network address, for per-address throttling.
	Address string
}

// Login checks a username and password and issues an access token and a refresh token.
// Unknown users, disabled users and wrong passwords all return ErrInvalidCredentials after
// the same amount of hashing work. Too many attempts for the username or from the address
// within the window return a *ThrottledError before any hashing; ErrBusy when no hashing
// slot frees within Config.HashWait.
func (s *Service) Login(ctx context.Context, req LoginRequest) (TokenResponse, error) {
	// Neither can match: refuse before any hashing or storage (a username longer than any
	// valid one cannot exist, so this tells nothing about which users do).
	if len(req.Password) > password.MaxLength || len(req.Username) > maxUsernameLen {
		return TokenResponse{}, ErrInvalidCredentials
	}
	granted, err := narrowScopes(req.Scopes, accesstoken.AllScopes, s.cfg.DefaultScopes)
	if err != nil {
		return TokenResponse{}, err
	}
	username := strings.ToLower(req.Username)
	keys := throttleKeys{account: "account:" + username, address: "address:" + req.Address, pair: "pair:" + req.Address + " " + username}
	if err := s.throttle(ctx, keys); err != nil {
		return TokenResponse{}, err
	}
	u, err := s.st.Users.UserByUsername(ctx, username)
	switch {
	case errors.Is(err, ErrNotFound):
		u = User{} // Verify against the dummy hash below.
	case err != nil:
		return TokenResponse{}, err
	}
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HashWait)
	err = s.hasher.Verify(hctx, req.Password, u.PasswordHash)
	cancel()
	if errors.Is(err, password.ErrBusy) {
		// Not the caller's fault: the attempt does not count.
		for _, k := range []string{keys.account, keys.address, keys.pair} {
			_ = s.st.Throttle.ForgetLoginAttempt(ctx, k, false)
		}
		return TokenResponse{}, ErrBusy
	}
	if err != nil || u.Disabled {
		return TokenResponse{}, ErrInvalidCredentials
	}
	// Only failures count: a success clears the account's counts and gives the address its
	// attempt back.
	for k, reset := range map[string]bool{keys.account: true, keys.pair: true, keys.address: false} {
		if err := s.st.Throttle.ForgetLoginAttempt(ctx, k, reset); err != nil {
			return TokenResponse{}, err
		}
	}
	now := s.now().UTC()
	return s.issueForUser(ctx, u.ID, granted, RefreshToken{
		ID: uuid.New(), FamilyID: uuid.New(), UserID: u.ID, Scope: strings.Join(granted, " "),
		CreatedAt: now, ExpiresAt: now.Add(min(s.cfg.RefreshIdleTTL, s.cfg.RefreshTTL)), FamilyExpiresAt: now.Add(s.cfg.RefreshTTL),
	}, s.st.Refresh.CreateRefreshToken)
}

// throttleKeys are the counters one login attempt touches.
type throttleKeys struct{ account, address, pair string }

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

// Refresh exchanges a refresh token for a new access token and a new refresh token in the
// same family (RFC 6749 section 6). The presented token is used up; presenting it again
// revokes the family (ErrRefreshReused). scopes may narrow the access token's scope within
// the family's; the new refresh token keeps the family's scope.
func (s *Service) Refresh(ctx context.Context, token string, scopes []string) (TokenResponse, error) {
	if !plausibleSecret(token) {
		return TokenResponse{}, ErrInvalidGrant
	}
	rt, hash, err := NewRefreshSecret()
	if err != nil {
		return TokenResponse{}, err
	}
	var resp TokenResponse
	now := s.now().UTC()
	err = s.st.Refresh.RotateRefreshToken(ctx, HashRefreshSecret(token), now, func(used RefreshToken) (RefreshToken, error) {
		granted, err := narrowScopes(scopes, strings.Fields(used.Scope), strings.Fields(used.Scope))
		if err != nil {
			return RefreshToken{}, err
		}
		at, ttl, err := s.issuer.Issue(ctx, used.UserID.String(), FirstPartyClientID, granted)
		if err != nil {
			return RefreshToken{}, err
		}
		resp = TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), RefreshToken: rt, Scope: strings.Join(granted, " ")}
		return RefreshToken{
			ID: uuid.New(), FamilyID: used.FamilyID, UserID: used.UserID, Hash: hash, Scope: used.Scope,
			CreatedAt: now, ExpiresAt: minTime(now.Add(s.cfg.RefreshIdleTTL), used.FamilyExpiresAt), FamilyExpiresAt: used.FamilyExpiresAt,
		}, nil
	})
	if err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}

// Revoke ends the family of a refresh token (RFC 7009). Unknown or malformed tokens, and
// access tokens (which are stateless), are accepted silently, as the RFC asks.
func (s *Service) Revoke(ctx context.Context, token string) error {
	if !plausibleSecret(token) {
		return nil
	}
	return s.st.Refresh.RevokeRefreshFamily(ctx, HashRefreshSecret(token), s.now().UTC())
}

// Sweep deletes refresh token families past their absolute lifetime and login counts of
// ended windows. Every replica may run it; it is idempotent.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now().UTC()
	if _, err := s.st.Refresh.DeleteExpiredRefreshTokens(ctx, now); err != nil {
		return err
	}
	_, err := s.st.Throttle.DeleteLoginAttempts(ctx, now.Add(-s.cfg.LoginWindow))
	return err
}

// issueForUser signs an access token and stores a new refresh token built from rt.
func (s *Service) issueForUser(ctx context.Context, userID uuid.UUID, scopes []string, rt RefreshToken, store func(context.Context, RefreshToken) error) (TokenResponse, error) {
	at, ttl, err := s.issuer.Issue(ctx, userID.String(), FirstPartyClientID, scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	secret, hash, err := NewRefreshSecret()
	if err != nil {
		return TokenResponse{}, err
	}
	rt.Hash = hash
	if err := store(ctx, rt); err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), RefreshToken: secret, Scope: strings.Join(scopes, " ")}, nil
}

// narrowScopes returns the requested scopes if each is in allowed, or def when none is asked.
func narrowScopes(requested, allowed, def []string) ([]string, error) {
	if len(requested) == 0 {
		return def, nil
	}
	out := make([]string, 0, len(requested))
	for _, r := range requested {
		if !slices.Contains(allowed, r) {
			return nil, fmt.Errorf("%w: %q is not allowed", ErrInvalidScope, r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ParseScopes validates a space-separated scope list against the scopes Coffer knows.
func ParseScopes(s string) ([]string, error) {
	return narrowScopes(strings.Fields(s), accesstoken.AllScopes, nil)
}

// NewRefreshSecret returns a new opaque refresh token (256 random bits, base64url) and the
// SHA-256 hash under which it is stored.
func NewRefreshSecret() (token string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashRefreshSecret(token), nil
}

// HashRefreshSecret is the stored form of a refresh token.
func HashRefreshSecret(token string) []byte { return HashSecret(token) }

// HashSecret is the stored form of a high-entropy secret (refresh token, client secret).
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// plausibleSecret rejects values that cannot be a secret Coffer issued, before any lookup.
func plausibleSecret(s string) bool { return len(s) >= 32 && len(s) <= 256 }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func mapPasswordErr(err error) error {
	switch {
	case errors.Is(err, password.ErrTooLong):
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalidInput, password.MaxLength)
	case errors.Is(err, password.ErrTooShort):
		return fmt.Errorf("%w: password shorter than %d bytes", ErrInvalidInput, password.MinLength)
	case errors.Is(err, password.ErrBusy):
		return ErrBusy
	}
	return err
}

// LookupUser finds an enabled user by username, compared case-insensitively, so that a
// resource server can turn the name a person types into the id their tokens carry. Unknown,
// malformed and disabled usernames all return ErrNotFound.
func (s *Service) LookupUser(ctx context.Context, username string) (User, error) {
	if len(username) > maxUsernameLen {
		return User{}, ErrNotFound
	}
	username, err := ValidateUsername(username)
	if err != nil {
		return User{}, ErrNotFound
	}
	u, err := s.st.Users.UserByUsername(ctx, username)
	if err != nil {
		return User{}, err
	}
	if u.Disabled {
		return User{}, ErrNotFound
	}
	return u, nil
}
