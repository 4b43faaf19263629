// Package auth is the auth service's domain: users, service clients, refresh tokens, the errors
// its operations return, and the Service that signs users in and issues tokens. Storage and
// HTTP live in their own packages and depend on this one, never the reverse.
package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Domain errors. The HTTP layer maps each to one problem (or OAuth error) code.
var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUsernameTaken means a user with that username exists.
	ErrUsernameTaken = errors.New("username taken")
	// ErrClientExists means a service client with that id exists.
	ErrClientExists = errors.New("client exists")
	// ErrInvalidCredentials means the username or password is wrong (never which).
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrSignupDisabled means self-service sign-up is off.
	ErrSignupDisabled = errors.New("sign-up disabled")
	// ErrInvalidInput means a request field failed validation; an *InputError says which.
	ErrInvalidInput = errors.New("invalid input")
	// ErrBusy means the service is at capacity (for example, password hashing); retry later.
	ErrBusy = errors.New("busy")
	// ErrInvalidScope means a requested scope is unknown or not allowed; errors.As an
	// *InvalidScopeError for which.
	ErrInvalidScope = errors.New("invalid scope")
	// ErrInvalidGrant means a refresh token is unknown, expired, revoked, already used, or
	// belongs to a disabled user (RFC 6749 section 5.2 invalid_grant).
	ErrInvalidGrant = errors.New("invalid grant")
	// ErrRefreshReused means a refresh token was presented a second time; its family has
	// been revoked. It wraps ErrInvalidGrant.
	ErrRefreshReused = fmt.Errorf("%w: refresh token reused; its family is revoked", ErrInvalidGrant)
	// ErrInvalidClient means client authentication failed (RFC 6749 invalid_client).
	ErrInvalidClient = errors.New("invalid client")
	// ErrUnsupportedGrantType means the grant_type is not one Coffer issues.
	ErrUnsupportedGrantType = errors.New("unsupported grant type")
	// ErrThrottled means too many login attempts; errors.As a *ThrottledError for how long.
	ErrThrottled = errors.New("too many attempts")
	// ErrNoToken means a protected route was called without a bearer access token.
	ErrNoToken = errors.New("no bearer token")
	// ErrInvalidToken means the bearer access token is malformed, forged, expired or not
	// one of ours; wrap it with the reason (which is logged, never sent).
	ErrInvalidToken = errors.New("invalid access token")
	// ErrInsufficientScope means the access token lacks the scope a route requires;
	// errors.As a *ScopeError for which.
	ErrInsufficientScope = errors.New("insufficient scope")
)

// ThrottledError says when a throttled caller may try again. It matches ErrThrottled.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many attempts; retry after %v", e.RetryAfter)
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// InputError is a request field that failed validation. Reason is written for the client and
// is all of the error the client sees. It matches ErrInvalidInput.
type InputError struct{ Reason string }

// Invalid returns an *InputError whose Reason is format filled in with args.
func Invalid(format string, args ...any) error {
	return &InputError{Reason: fmt.Sprintf(format, args...)}
}

func (e *InputError) Error() string { return "invalid input: " + e.Reason }

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// InvalidScopeError names a requested scope the caller may not have. It matches
// ErrInvalidScope.
type InvalidScopeError struct{ Scope string }

func (e *InvalidScopeError) Error() string {
	return fmt.Sprintf("invalid scope: %q is not allowed", e.Scope)
}

// Is makes errors.Is(err, ErrInvalidScope) true.
func (e *InvalidScopeError) Is(target error) bool { return target == ErrInvalidScope }

// ScopeError names the scope an access token lacks. It matches ErrInsufficientScope.
type ScopeError struct{ Scope string }

func (e *ScopeError) Error() string { return "insufficient scope: " + e.Scope + " required" }

// Is makes errors.Is(err, ErrInsufficientScope) true.
func (e *ScopeError) Is(target error) bool { return target == ErrInsufficientScope }

// User is an end user who owns files.
type User struct {
	ID           uuid.UUID
	Username     string
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
}

// Client is a service client of the client_credentials grant.
type Client struct {
	ID         string
	SecretHash []byte // SHA-256 of the secret
	Scopes     []string
	Disabled   bool
	CreatedAt  time.Time
}

// RefreshToken is the stored form of a refresh token: only its hash is kept.
type RefreshToken struct {
	ID              uuid.UUID
	FamilyID        uuid.UUID // every token rotated from one login shares a family
	UserID          uuid.UUID
	Hash            []byte // SHA-256 of the opaque token
	Scope           string
	CreatedAt       time.Time
	ExpiresAt       time.Time // idle expiry, never after FamilyExpiresAt
	FamilyExpiresAt time.Time // absolute expiry of the family
}

// UserStore keeps users.
type UserStore interface {
	// CreateUser stores u; ErrUsernameTaken if the username exists.
	CreateUser(ctx context.Context, u User) error
	// UserByUsername returns the user; ErrNotFound if there is none.
	UserByUsername(ctx context.Context, username string) (User, error)
	// DisableUser disables the user and revokes all their refresh tokens at now, in one
	// transaction; ErrNotFound if there is no such user.
	DisableUser(ctx context.Context, username string, now time.Time) error
	// SetPasswordHash replaces the user's password hash and revokes all their refresh tokens
	// at now, in one transaction; ErrNotFound if there is no such user.
	SetPasswordHash(ctx context.Context, username, hash string, now time.Time) error
}

// RefreshStore keeps refresh tokens.
type RefreshStore interface {
	// CreateRefreshToken stores t.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken atomically marks the token with this hash used, if it is unused,
	// unrevoked, unexpired at now and its user is enabled, and stores the token next(used)
	// returns, in one transaction (an error from next rolls everything back). Of several
	// concurrent calls with one hash at most one succeeds. It returns ErrRefreshReused (after
	// revoking the family) if the token was used before, and ErrInvalidGrant otherwise.
	RotateRefreshToken(ctx context.Context, hash []byte, now time.Time, next func(used RefreshToken) (RefreshToken, error)) error
	// RevokeRefreshFamily revokes, at now, every token in the family of the token with this
	// hash. An unknown hash is not an error (RFC 7009 section 2.2).
	RevokeRefreshFamily(ctx context.Context, hash []byte, now time.Time) error
	// DeleteExpiredRefreshTokens deletes the tokens of families whose absolute lifetime
	// ended before now (used tokens are kept until then, to detect their reuse).
	DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int64, error)
}

// ClientStore keeps service clients.
type ClientStore interface {
	// CreateClient stores c; ErrClientExists if the id is taken.
	CreateClient(ctx context.Context, c Client) error
	// ClientByID returns the client; ErrNotFound if there is none.
	ClientByID(ctx context.Context, id string) (Client, error)
}

// Attempts is a throttle key's count of attempts in its current window.
type Attempts struct {
	Key         string
	Count       int
	WindowStart time.Time
}

// ThrottleStore counts login attempts per key in fixed windows, shared by every replica.
type ThrottleStore interface {
	// CountLoginAttempt adds one attempt to each key at now, first starting a new window (at
	// now, count 0) for a key whose window began at or before windowStartedBefore. It returns
	// each key's count after the increment.
	CountLoginAttempt(ctx context.Context, keys []string, now, windowStartedBefore time.Time) ([]Attempts, error)
	// ForgetLoginAttempt removes one attempt from key (not below zero), so that only failures
	// count against a shared address; reset true clears the key instead.
	ForgetLoginAttempt(ctx context.Context, key string, reset bool) error
	// DeleteLoginAttempts deletes the counts of windows that began at or before t.
	DeleteLoginAttempts(ctx context.Context, t time.Time) (int64, error)
}

// Stores are the storage the Service uses.
type Stores struct {
	Users    UserStore
	Refresh  RefreshStore
	Clients  ClientStore
	Throttle ThrottleStore
}

// TokenResponse is what a successful login or token request returns (RFC 6749 section 5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}
