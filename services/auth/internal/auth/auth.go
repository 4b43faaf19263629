// Package auth is the auth service's domain: users, refresh tokens, the errors its operations
// return, and the Service that signs users up and logs them in. Storage and HTTP live in their
// own packages and depend on this one, never the reverse.
package auth

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Domain errors. The HTTP layer maps each to one problem code.
var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUsernameTaken means a user with that username exists.
	ErrUsernameTaken = errors.New("username taken")
	// ErrInvalidCredentials means the username or password is wrong (never which).
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrSignupDisabled means self-service sign-up is off.
	ErrSignupDisabled = errors.New("sign-up disabled")
	// ErrInvalidInput means a request field failed validation; wrap it with the reason.
	ErrInvalidInput = errors.New("invalid input")
	// ErrBusy means the service is at capacity (for example, password hashing); retry later.
	ErrBusy = errors.New("busy")
	// ErrInvalidScope means a requested scope is unknown or not allowed.
	ErrInvalidScope = errors.New("invalid scope")
)

// User is an end user who owns files.
type User struct {
	ID           uuid.UUID
	Username     string
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
}

// RefreshToken is the stored form of a refresh token: only its hash is kept.
type RefreshToken struct {
	ID        uuid.UUID
	FamilyID  uuid.UUID // every token rotated from one login shares a family
	UserID    uuid.UUID
	Hash      []byte // SHA-256 of the opaque token
	Scope     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// UserStore keeps users.
type UserStore interface {
	// CreateUser stores u; ErrUsernameTaken if the username exists.
	CreateUser(ctx context.Context, u User) error
	// UserByUsername returns the user; ErrNotFound if there is none.
	UserByUsername(ctx context.Context, username string) (User, error)
}

// RefreshStore keeps refresh tokens.
type RefreshStore interface {
	// CreateRefreshToken stores t.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
}

// TokenResponse is what a successful login or token request returns (RFC 6749 section 5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}
