package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"time"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// PasswordHasher hashes and checks passwords (package password). The Service checks a new
// password's length (ValidatePassword) before asking for its hash.
type PasswordHasher interface {
	// Hash returns the encoded hash; an error matching ErrBusy when no hashing slot frees
	// before ctx ends.
	Hash(ctx context.Context, pw string) (string, error)
	// Verify returns nil on a match and an error matching ErrBusy when no hashing slot frees
	// before ctx ends; an empty hash must cost as much as a real one.
	Verify(ctx context.Context, pw, hash string) error
}

// AccessTokenIssuer signs access tokens (package keys). username fills the
// preferred_username claim ("" for a client's own token), roles the roles claim.
type AccessTokenIssuer interface {
	Issue(ctx context.Context, subject, username, clientID string, scopes []string, roles ...string) (token string, ttl time.Duration, err error)
}

// FirstPartyClientID is the client_id of tokens issued through the login endpoint, which
// serves Coffer's own clients (CLI, web).
const FirstPartyClientID = "coffer"

// Config holds the Service's policy settings. DefaultConfig holds their defaults.
type Config struct {
	// SignupEnabled allows self-service sign-up.
	SignupEnabled bool
	// RefreshTTL is a refresh token family's absolute lifetime.
	RefreshTTL time.Duration
	// RefreshIdleTTL is how long an unused refresh token stays valid.
	RefreshIdleTTL time.Duration
	// DefaultScopes are granted to users when a request names none.
	DefaultScopes []string
	// HashWait bounds how long a login waits for a password-hashing slot before ErrBusy.
	HashWait time.Duration
	// LoginWindow is the throttling window.
	LoginWindow time.Duration
	// PairAttempts is how many failed logins one username may take per window from one
	// client address. This is the limit a single guesser meets; it does not lock the real
	// user, who comes from another address, out.
	PairAttempts int
	// AccountAttempts is how many failed logins one username may take per window, from all
	// addresses together: the limit for a guesser spread over many addresses.
	AccountAttempts int
	// AddressAttempts is how many failed logins one client address may make per window,
	// for any usernames.
	AddressAttempts int
	// RefreshReuseInterval is how long after a refresh token's rotation presenting it again
	// returns the same successor instead of revoking the family (a client retrying after a
	// timeout). Zero turns it off.
	RefreshReuseInterval time.Duration
	// RefreshKey derives a refresh token's successor from the token (HMAC-SHA256), so a
	// retry within RefreshReuseInterval gets the same successor without the service storing
	// it. Every replica needs the same key. Unset: random (right for one process only).
	RefreshKey []byte
	// SessionTTL is how long the authorization endpoint's sign-in session lasts.
	SessionTTL time.Duration
	// MFARequired requires a second factor of every user with a password; those without one
	// set it up at their next sign-in on the page.
	MFARequired bool
	// UpstreamMFAExempt lets people signed in through an upstream provider skip Coffer's
	// second factor (their provider is trusted to have asked for one).
	UpstreamMFAExempt bool
	// InvitationTTL is how long an invitation or password-reset link stays valid.
	InvitationTTL time.Duration
}

// DefaultConfig is the policy the service runs with unless configured otherwise, and the one
// place its defaults are written: cmd/coffer-auth reads its environment over it.
func DefaultConfig() Config {
	return Config{
		SignupEnabled:   false,
		RefreshTTL:      30 * 24 * time.Hour,
		RefreshIdleTTL:  7 * 24 * time.Hour,
		DefaultScopes:   []string{accesstoken.ScopeFilesRead, accesstoken.ScopeFilesWrite},
		HashWait:        2 * time.Second,
		LoginWindow:     15 * time.Minute,
		PairAttempts:    10,
		AccountAttempts: 50,
		AddressAttempts: 100,
		// A retry within a few seconds of a rotation is a client that lost the answer.
		RefreshReuseInterval: 5 * time.Second,
		SessionTTL:           time.Hour,
		InvitationTTL:        7 * 24 * time.Hour,
	}
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
	// audit records events (audit.go); nil records nothing.
	audit        Auditor
	onAuditError func(ctx context.Context, action string, err error)
	// sealer keeps TOTP secrets (UseSealer); nil in admin commands, which need none.
	sealer SecretSealer
	// upstream are the OpenID providers people may sign in through (UseUpstream).
	upstream *Upstreams
}

// UseSealer gives the service the key it seals TOTP secrets with. Call before serving.
func (s *Service) UseSealer(sealer SecretSealer) { s.sealer = sealer }

// NewService wires a Service. now is the clock (nil: time.Now).
func NewService(st Stores, hasher PasswordHasher, issuer AccessTokenIssuer, cfg Config, now func() time.Time) *Service {
	// A zero setting means nothing (the configuration refuses it), so it takes the default.
	def := DefaultConfig()
	cfg.RefreshTTL = cmp.Or(cfg.RefreshTTL, def.RefreshTTL)
	cfg.RefreshIdleTTL = cmp.Or(cfg.RefreshIdleTTL, def.RefreshIdleTTL)
	if cfg.DefaultScopes == nil {
		cfg.DefaultScopes = def.DefaultScopes
	}
	cfg.HashWait = cmp.Or(cfg.HashWait, def.HashWait)
	cfg.LoginWindow = cmp.Or(cfg.LoginWindow, def.LoginWindow)
	cfg.PairAttempts = cmp.Or(cfg.PairAttempts, def.PairAttempts)
	cfg.AccountAttempts = cmp.Or(cfg.AccountAttempts, def.AccountAttempts)
	cfg.AddressAttempts = cmp.Or(cfg.AddressAttempts, def.AddressAttempts)
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, def.SessionTTL)
	cfg.InvitationTTL = cmp.Or(cfg.InvitationTTL, def.InvitationTTL)
	// RefreshReuseInterval stays as given: zero is a setting (off).
	if cfg.RefreshKey == nil {
		cfg.RefreshKey = make([]byte, 32)
		_, _ = rand.Read(cfg.RefreshKey) // crypto/rand.Read never fails
	}
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, hasher: hasher, issuer: issuer, cfg: cfg, now: now, dummyClientHash: HashSecret("coffer-dummy-client")}
}
