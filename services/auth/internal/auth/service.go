package auth

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/cofferhq/coffer/pkg/accesstoken"
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
	// RefreshReuseInterval is how long after a refresh token's rotation presenting it again
	// returns the same successor instead of revoking the family (a client retrying after a
	// timeout). Zero turns it off; the service's configuration sets the default.
	RefreshReuseInterval time.Duration
	// RefreshKey derives a refresh token's successor from the token (HMAC-SHA256), so a
	// retry within RefreshReuseInterval gets the same successor without the service storing
	// it. Every replica needs the same key. Default: random (right for one process only).
	RefreshKey []byte
	// SessionTTL is how long the authorization endpoint's sign-in session lasts. Default 1h.
	SessionTTL time.Duration
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
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = time.Hour
	}
	if cfg.RefreshKey == nil {
		cfg.RefreshKey = make([]byte, 32)
		_, _ = rand.Read(cfg.RefreshKey) // crypto/rand.Read never fails
	}
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, hasher: hasher, issuer: issuer, cfg: cfg, now: now, dummyClientHash: HashSecret("coffer-dummy-client")}
}
