// Package auth is the auth service's domain: users, OAuth clients, refresh tokens,
// authorization codes and sign-in sessions, the errors its operations return, and the Service
// that signs users in and issues tokens. Storage and
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
	// ErrUnavailable means the database cannot be reached right now; retry later.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrInvalidScope means a requested scope is unknown or not allowed; errors.As an
	// *InvalidScopeError for which.
	ErrInvalidScope = errors.New("invalid scope")
	// ErrInvalidGrant means a refresh token is unknown, expired, revoked, already used, or
	// belongs to a disabled user (RFC 6749 section 5.2 invalid_grant).
	ErrInvalidGrant = errors.New("invalid grant")
	// ErrRefreshReused means a refresh token was presented a second time; its family has
	// been revoked. It wraps ErrInvalidGrant.
	ErrRefreshReused = fmt.Errorf("%w: refresh token reused; its family is revoked", ErrInvalidGrant)
	// ErrCodeReused means an authorization code was presented a second time; what it was
	// exchanged for has been revoked (RFC 6749 section 10.5). It wraps ErrInvalidGrant.
	ErrCodeReused = fmt.Errorf("%w: authorization code reused; its tokens are revoked", ErrInvalidGrant)
	// ErrUnknownClient means an authorization request names no enabled client that may use
	// the authorization endpoint. It is shown to the user, never redirected.
	ErrUnknownClient = errors.New("unknown client")
	// ErrRedirectURI means an authorization request's redirect_uri is missing or not one the
	// client registered. It is shown to the user, never redirected (RFC 6749 section 4.1.2.1).
	ErrRedirectURI = errors.New("redirect_uri not registered")
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

// AuthorizeError is an authorization request error that is sent back to the client's
// redirect URI (RFC 6749 section 4.1.2.1): Code is the RFC error code.
type AuthorizeError struct {
	Code        string // invalid_request, unsupported_response_type, invalid_scope, ...
	Description string
}

func (e *AuthorizeError) Error() string { return e.Code + ": " + e.Description }

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
	// Admin reports the admin role; only the administration store's reads fill it in.
	Admin bool
}

// Client is a registered OAuth client: a service client of the client_credentials grant, or
// an application of the authorization code grant (confidential with a secret, or public
// without one), or both.
type Client struct {
	ID         string
	SecretHash []byte // SHA-256 of the secret; nil for a public client
	Scopes     []string
	// RedirectURIs are the exact redirect URIs of the authorization code grant; none means
	// the client cannot use the authorization endpoint.
	RedirectURIs []string
	// Origins are the browser origins (scheme://host[:port]) allowed to call the token,
	// revocation, JWKS and discovery endpoints (CORS).
	Origins   []string
	Disabled  bool
	CreatedAt time.Time
	// AdminRole lets the client's user tokens carry the admin role of an admin user (for
	// Coffer's own web page); third-party clients never get it unless registered so.
	AdminRole bool
}

// Public reports whether the client has no secret (a browser or native app).
func (c Client) Public() bool { return len(c.SecretHash) == 0 }

// AuthCode is the stored form of a one-time authorization code: only its hash is kept.
type AuthCode struct {
	Hash          []byte // SHA-256 of the code
	ClientID      string
	UserID        uuid.UUID
	RedirectURI   string
	CodeChallenge string // S256 code challenge (RFC 7636)
	Scope         string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// Session is a sign-in session of the authorization endpoint (the auth-session cookie).
type Session struct {
	Hash      []byte // SHA-256 of the cookie value
	UserID    uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshToken is the stored form of a refresh token: only its hash is kept.
type RefreshToken struct {
	ID              uuid.UUID
	FamilyID        uuid.UUID // every token rotated from one login shares a family
	UserID          uuid.UUID
	ClientID        string // the client it was issued to; FirstPartyClientID for /v1/login
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
	// unrevoked, unexpired at now and its user is enabled, and stores the token
	// next(used, false) returns, in one transaction (an error from next rolls everything
	// back). Of several concurrent calls with one hash at most one rotates.
	//
	// A token used after reuseSince whose successor (the token with hash successor, in
	// the same family) is still unused, unrevoked and unexpired is a retry within the reuse
	// interval: next(used, true) is called and nothing is stored or revoked. Otherwise a
	// used token returns ErrRefreshReused after revoking the family; anything else returns
	// ErrInvalidGrant.
	RotateRefreshToken(ctx context.Context, hash []byte, now, reuseSince time.Time, successor []byte, next func(used RefreshToken, retry bool) (RefreshToken, error)) error
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
	// OriginAllowed reports whether an enabled client lists origin among its CORS origins.
	OriginAllowed(ctx context.Context, origin string) (bool, error)
}

// CodeStore keeps authorization codes.
type CodeStore interface {
	// CreateCode stores c.
	CreateCode(ctx context.Context, c AuthCode) error
	// ConsumeCode marks the code with this hash used at now and returns it, whether or not it
	// has expired. A code used before is marked replayed, the refresh family it was
	// exchanged for is revoked at now, and ErrCodeReused is returned; an unknown code returns
	// ErrInvalidGrant.
	ConsumeCode(ctx context.Context, hash []byte, now time.Time) (AuthCode, error)
	// StoreCodeTokens stores rt, the refresh token a code was exchanged for, and records its
	// family on the code, in one transaction; ErrInvalidGrant (storing nothing) if the code
	// was replayed meanwhile or its user is disabled.
	StoreCodeTokens(ctx context.Context, hash []byte, rt RefreshToken) error
	// DeleteExpiredCodes deletes codes that expired before t.
	DeleteExpiredCodes(ctx context.Context, t time.Time) (int64, error)
}

// SessionStore keeps sign-in sessions.
type SessionStore interface {
	// CreateSession stores s.
	CreateSession(ctx context.Context, s Session) error
	// SessionUser returns the enabled user of the unexpired session with this hash;
	// ErrNotFound otherwise.
	SessionUser(ctx context.Context, hash []byte, now time.Time) (User, error)
	// DeleteSession deletes the session with this hash (an unknown one is not an error).
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteExpiredSessions deletes sessions that expired before t.
	DeleteExpiredSessions(ctx context.Context, t time.Time) (int64, error)
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
	Codes    CodeStore
	Sessions SessionStore
	// Admin is the administration store (admin.go); nil: no roles are ever issued and the
	// admin operations are unavailable.
	Admin AdminStore
	// Identity stores (identity.go): second factors, upstream identities, invitations and
	// what a person sees of their own sign-ins. Nil in tests that need none.
	TOTP        TOTPStore
	Identities  IdentityStore
	Invitations InvitationStore
	Account     AccountStore
}

// TokenResponse is what a successful login or token request returns (RFC 6749 section 5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	// subject and roles are what the access token says, for the audit log.
	subject string
	roles   []string
}
