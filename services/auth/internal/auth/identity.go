package auth

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Identity errors.
var (
	// ErrUpstreamRefused means an upstream sign-in failed a check: unknown or expired state,
	// a provider that did not answer as configured, a wrong issuer, nonce, or ID token. The
	// reason is logged, never shown.
	ErrUpstreamRefused = errors.New("upstream sign-in refused")
	// ErrUpstreamNotAllowed means the upstream account is real but the operator's policy
	// lets it neither create a Coffer user nor link to one (no invitation, sign-up off, or an
	// email domain or group outside the allowed ones).
	ErrUpstreamNotAllowed = errors.New("upstream account not allowed")
	// ErrUnknownProvider means no upstream provider has that name.
	ErrUnknownProvider = errors.New("unknown upstream provider")
	// ErrInvitationInvalid means an invitation or reset link is unknown, used or expired.
	ErrInvitationInvalid = errors.New("invitation invalid")
)

// Identity links a person at an upstream OpenID provider, (Issuer, Subject), to a user.
type Identity struct {
	Issuer    string
	Subject   string
	UserID    uuid.UUID
	Email     string
	CreatedAt time.Time
}

// UpstreamLogin is an upstream sign-in in flight, stored under the hash of its state until
// the provider redirects back. A row with UserID set is instead a sign-in waiting for the
// user's second factor.
type UpstreamLogin struct {
	StateHash  []byte
	Provider   string
	Nonce      string
	Verifier   string
	ReturnTo   string
	Invitation []byte // hash of the invitation token the sign-in accepts, if any
	UserID     *uuid.UUID
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// IdentityStore keeps upstream identities and upstream sign-ins in flight.
type IdentityStore interface {
	// UserByIdentity returns the user linked to (issuer, subject); ErrNotFound if none.
	UserByIdentity(ctx context.Context, issuer, subject string) (User, error)
	// CreateUserWithIdentity stores u and links id to it, in one transaction;
	// ErrUsernameTaken if the username exists.
	CreateUserWithIdentity(ctx context.Context, u User, id Identity) error
	// Identities lists the user's upstream identities.
	Identities(ctx context.Context, userID uuid.UUID) ([]Identity, error)
	// SaveUpstreamLogin stores l.
	SaveUpstreamLogin(ctx context.Context, l UpstreamLogin) error
	// TakeUpstreamLogin deletes and returns the login with this state hash if it has not
	// expired at now; ErrNotFound otherwise (so a state works once).
	TakeUpstreamLogin(ctx context.Context, stateHash []byte, now time.Time) (UpstreamLogin, error)
	// DeleteExpiredUpstreamLogins deletes logins that expired before t.
	DeleteExpiredUpstreamLogins(ctx context.Context, t time.Time) (int64, error)
}

// Invitation kinds.
const (
	InviteKind = "invite" // creates a user
	ResetKind  = "reset"  // sets an existing user's password
)

// Invitation is a one-time link an admin hands out: an invitation to create an account, or
// a password reset. Only the hash of its token is stored.
type Invitation struct {
	ID        uuid.UUID
	Kind      string
	Username  string     // an invitation's fixed username ("" lets the invitee choose); a reset's user
	UserID    *uuid.UUID // a reset's user
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// InvitationStore keeps invitations and reset links.
type InvitationStore interface {
	// CreateInvitation stores inv under the token's hash. For a reset it also clears the
	// user's password and ends their refresh tokens and sign-in sessions, in one
	// transaction (the user must set a new password); ErrNotFound if the user is gone.
	CreateInvitation(ctx context.Context, inv Invitation, hash []byte, now time.Time) error
	// InvitationByHash returns the unused invitation with this hash that has not expired at
	// now; ErrNotFound otherwise.
	InvitationByHash(ctx context.Context, hash []byte, now time.Time) (Invitation, error)
	// AcceptInvitation uses the invitation (unused, unexpired at now, of kind invite) and
	// creates u, linked to id when given, in one transaction; ErrNotFound if the invitation
	// is not usable (of two racing acceptances one wins), ErrUsernameTaken.
	AcceptInvitation(ctx context.Context, hash []byte, now time.Time, u User, id *Identity) error
	// AcceptReset uses the reset link and sets its user's password hash, in one transaction,
	// returning the user; ErrNotFound if the link is not usable.
	AcceptReset(ctx context.Context, hash []byte, now time.Time, passwordHash string) (User, error)
	// ListInvitations lists invitations and resets, newest first.
	ListInvitations(ctx context.Context) ([]Invitation, error)
	// DeleteExpiredInvitations deletes links that expired before t.
	DeleteExpiredInvitations(ctx context.Context, t time.Time) (int64, error)
	// RevokeInvitation deletes the unused link with this id and returns it; ErrNotFound if
	// there is none (unknown or already used).
	RevokeInvitation(ctx context.Context, id uuid.UUID) (Invitation, error)
}

// SignIn is one of a person's live sign-ins: a refresh token family (a device or app that
// stays signed in) or a sign-in session of the authorization page.
type SignIn struct {
	ID        string // "f-" + family id, or "s-" + the session's hash (base64url)
	Kind      string // "token" or "browser"
	ClientID  string
	CreatedAt time.Time
	LastUsed  time.Time
	ExpiresAt time.Time
}

// AccountStore is what a person's own account pages read and change.
type AccountStore interface {
	// AccountUserByID returns the user; ErrNotFound if there is none.
	AccountUserByID(ctx context.Context, id uuid.UUID) (User, error)
	// ListSignIns returns the user's live refresh families and sign-in sessions at now.
	ListSignIns(ctx context.Context, userID uuid.UUID, now time.Time) ([]SignIn, error)
	// EndRefreshFamily revokes the family at now if it belongs to the user; ErrNotFound
	// otherwise.
	EndRefreshFamily(ctx context.Context, userID, familyID uuid.UUID, now time.Time) error
	// EndUserSession deletes the user's sign-in session with this hash; ErrNotFound if the
	// user has none such.
	EndUserSession(ctx context.Context, userID uuid.UUID, hash []byte) error
}
