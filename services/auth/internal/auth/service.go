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
	Hash(ctx context.Context, pw string) (string, error)
	// Verify returns nil on a match; an empty hash must cost as much as a real one.
	Verify(ctx context.Context, pw, hash string) error
}

// AccessTokenIssuer signs access tokens (package tokens).
type AccessTokenIssuer interface {
	Issue(ctx context.Context, subject, clientID string, scopes []string) (token string, ttl time.Duration, err error)
}

// FirstPartyClientID is the client_id of tokens issued through the login endpoint, which
// serves Coffer's own clients (CLI, web).
const FirstPartyClientID = "coffer"

// Config holds the Service's policy settings.
type Config struct {
	// SignupEnabled allows self-service sign-up. Default off.
	SignupEnabled bool
	// RefreshTTL is a refresh token family's absolute lifetime. Default 30 days.
	RefreshTTL time.Duration
	// DefaultScopes are granted to users when a request names none. Default files:read files:write.
	DefaultScopes []string
}

// Service implements sign-up and login.
type Service struct {
	users   UserStore
	refresh RefreshStore
	hasher  PasswordHasher
	issuer  AccessTokenIssuer
	cfg     Config
	now     func() time.Time
}

// NewService wires a Service.
func NewService(users UserStore, refresh RefreshStore, hasher PasswordHasher, issuer AccessTokenIssuer, cfg Config, now func() time.Time) *Service {
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.DefaultScopes == nil {
		cfg.DefaultScopes = []string{accesstoken.ScopeFilesRead, accesstoken.ScopeFilesWrite}
	}
	if now == nil {
		now = time.Now
	}
	return &Service{users: users, refresh: refresh, hasher: hasher, issuer: issuer, cfg: cfg, now: now}
}

var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,63}$`)

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
	if err := s.users.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

// Login checks a username and password and issues an access token and a refresh token.
// Unknown users, disabled users and wrong passwords all return ErrInvalidCredentials after
// the same amount of hashing work.
func (s *Service) Login(ctx context.Context, username, pw string, scopes []string) (TokenResponse, error) {
	if len(pw) > password.MaxLength {
		return TokenResponse{}, ErrInvalidCredentials
	}
	granted, err := s.narrowScopes(scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	u, err := s.users.UserByUsername(ctx, strings.ToLower(username))
	switch {
	case errors.Is(err, ErrNotFound):
		u = User{} // Verify against the dummy hash below.
	case err != nil:
		return TokenResponse{}, err
	}
	if err := s.hasher.Verify(ctx, pw, u.PasswordHash); err != nil {
		if errors.Is(err, password.ErrBusy) {
			return TokenResponse{}, ErrBusy
		}
		return TokenResponse{}, ErrInvalidCredentials
	}
	if u.Disabled {
		return TokenResponse{}, ErrInvalidCredentials
	}
	return s.issue(ctx, u, uuid.New(), granted)
}

func (s *Service) issue(ctx context.Context, u User, family uuid.UUID, scopes []string) (TokenResponse, error) {
	at, ttl, err := s.issuer.Issue(ctx, u.ID.String(), FirstPartyClientID, scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	rt, hash, err := NewRefreshSecret()
	if err != nil {
		return TokenResponse{}, err
	}
	now := s.now().UTC()
	scope := strings.Join(scopes, " ")
	if err := s.refresh.CreateRefreshToken(ctx, RefreshToken{
		ID: uuid.New(), FamilyID: family, UserID: u.ID, Hash: hash, Scope: scope,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL),
	}); err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), RefreshToken: rt, Scope: scope}, nil
}

// narrowScopes returns the requested scopes if each is allowed for users, or the defaults.
func (s *Service) narrowScopes(requested []string) ([]string, error) {
	if len(requested) == 0 {
		return s.cfg.DefaultScopes, nil
	}
	out := make([]string, 0, len(requested))
	for _, r := range requested {
		if !slices.Contains(accesstoken.AllScopes, r) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidScope, r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
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
func HashRefreshSecret(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
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
