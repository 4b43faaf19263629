package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// ErrNotAdmin means a route or operation needs the admin role and the caller lacks it.
var ErrNotAdmin = errors.New("admin role required")

// AdminStore keeps the admin role and what administration reads and changes beyond
// UserStore and ClientStore.
type AdminStore interface {
	// UserClaims returns what a token of clientID for the user says of them: their username,
	// and RoleAdmin among the roles when the user holds it and the client is Coffer's own
	// (FirstPartyClientID) or was registered with the admin role. An unknown user has
	// neither.
	UserClaims(ctx context.Context, userID uuid.UUID, clientID string) (TokenUser, error)
	// RefreshClaims is UserClaims for the user and client of the refresh token with this
	// hash (nothing for an unknown token).
	RefreshClaims(ctx context.Context, hash []byte) (TokenUser, error)
	// SetAdmin grants or takes away a user's admin role; ErrNotFound if there is no such
	// user.
	SetAdmin(ctx context.Context, username string, admin bool) error
	// ListUsers returns up to q.Limit users whose username is after q.After and contains
	// q.Search, in username order, with Admin filled in.
	ListUsers(ctx context.Context, q UserQuery) ([]User, error)
	// AdminUser returns the user with Admin filled in; ErrNotFound if there is none.
	AdminUser(ctx context.Context, id uuid.UUID) (User, error)
	// EnableUser re-enables a disabled user; ErrNotFound if there is no such user.
	EnableUser(ctx context.Context, id uuid.UUID) error
	// DeleteUser deletes the user with their refresh tokens, codes and sessions; ErrNotFound
	// if there is no such user.
	DeleteUser(ctx context.Context, id uuid.UUID) error
	// RevokeUserTokens revokes at now every refresh token of the user and ends their
	// sign-in sessions, returning how many refresh token families it ended.
	RevokeUserTokens(ctx context.Context, id uuid.UUID, now time.Time) (int64, error)
	// ListClients returns every registered client, in id order.
	ListClients(ctx context.Context) ([]Client, error)
	// SetClientDisabled disables (revoking at now the refresh tokens issued to it) or
	// re-enables a client; ErrNotFound if there is none.
	SetClientDisabled(ctx context.Context, id string, disabled bool, now time.Time) error
	// DeleteClient deletes a client and the refresh tokens issued to it; ErrNotFound if there
	// is none.
	DeleteClient(ctx context.Context, id string) error
	// SetClientSecret replaces a confidential client's secret hash and revokes at now the
	// refresh tokens issued to it; ErrNotFound if there is no such confidential client.
	SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error
}

// UserQuery selects a page of users.
type UserQuery struct {
	Search string // a substring of the username; "" matches all
	After  string // the last username of the previous page
	Limit  int
}

// MaxUserPage bounds a page of ListUsers.
const MaxUserPage = 200

// ListUsers returns a page of users (see AdminStore.ListUsers); Limit 0 takes MaxUserPage.
func (s *Service) ListUsers(ctx context.Context, q UserQuery) ([]User, error) {
	if q.Limit <= 0 || q.Limit > MaxUserPage {
		q.Limit = MaxUserPage
	}
	if len(q.Search) > maxUsernameLen || len(q.After) > maxUsernameLen {
		return nil, Invalid("search and after are at most %d bytes", maxUsernameLen)
	}
	q.Search = strings.ToLower(q.Search)
	return s.st.Admin.ListUsers(ctx, q)
}

// UserByID returns a user by id; ErrNotFound if there is none.
func (s *Service) UserByID(ctx context.Context, id uuid.UUID) (User, error) {
	return s.st.Admin.AdminUser(ctx, id)
}

// UserByName returns a user by username (any state), with Admin filled in; ErrNotFound if
// there is none.
func (s *Service) UserByName(ctx context.Context, username string) (User, error) {
	u, err := s.st.Users.UserByUsername(ctx, strings.ToLower(username))
	if err != nil {
		return User{}, err
	}
	return s.st.Admin.AdminUser(ctx, u.ID)
}

// AdminCreateUser creates a user (whatever the sign-up setting), optionally an admin.
func (s *Service) AdminCreateUser(ctx context.Context, actor Actor, username, pw string, admin bool) (User, error) {
	u, err := s.CreateUser(ctx, username, pw)
	if err != nil {
		return User{}, err
	}
	if admin {
		if err := s.st.Admin.SetAdmin(ctx, u.Username, true); err != nil {
			return User{}, err
		}
		u.Admin = true
	}
	return u, s.Audit(ctx, actor, AuditUserCreate, u.ID.String(), map[string]string{"username": u.Username, "admin": fmt.Sprint(admin)})
}

// AdminSetUserDisabled disables a user, ending every refresh token family and sign-in
// session they hold in the same transaction (so a refresh a moment later fails), or
// re-enables one.
func (s *Service) AdminSetUserDisabled(ctx context.Context, actor Actor, id uuid.UUID, disabled bool) error {
	u, err := s.st.Admin.AdminUser(ctx, id)
	if err != nil {
		return err
	}
	action := AuditUserEnable
	if disabled {
		action = AuditUserDisable
		err = s.st.Users.DisableUser(ctx, u.Username, s.now().UTC())
	} else {
		err = s.st.Admin.EnableUser(ctx, id)
	}
	if err != nil {
		return err
	}
	return s.Audit(ctx, actor, action, id.String(), map[string]string{"username": u.Username})
}

// AdminSetAdmin grants or takes away a user's admin role (see SetAdmin).
func (s *Service) AdminSetAdmin(ctx context.Context, actor Actor, id uuid.UUID, admin bool) error {
	u, err := s.st.Admin.AdminUser(ctx, id)
	if err != nil {
		return err
	}
	if err := s.st.Admin.SetAdmin(ctx, u.Username, admin); err != nil {
		return err
	}
	action := AuditUserUnadmin
	if admin {
		action = AuditUserAdmin
	}
	return s.Audit(ctx, actor, action, id.String(), map[string]string{"username": u.Username})
}

// FilesFate says what becomes of a deleted user's files: the auth service holds none.
const FilesFate = "kept by the file service, owned by an id no one can sign in as, until an admin deletes them there (DELETE /v1/admin/users/{id}/files)"

// AdminDeleteUser deletes a user and everything the auth service holds for them (refresh
// tokens, codes, sessions). Their files are the file service's: see FilesFate.
func (s *Service) AdminDeleteUser(ctx context.Context, actor Actor, id uuid.UUID) error {
	u, err := s.st.Admin.AdminUser(ctx, id)
	if err != nil {
		return err
	}
	if err := s.st.Admin.DeleteUser(ctx, id); err != nil {
		return err
	}
	return s.Audit(ctx, actor, AuditUserDelete, id.String(), map[string]string{"username": u.Username, "files": "kept"})
}

// AdminRevokeSessions ends every refresh token family and sign-in session of a user and
// returns how many families it ended.
func (s *Service) AdminRevokeSessions(ctx context.Context, actor Actor, id uuid.UUID) (int64, error) {
	if _, err := s.st.Admin.AdminUser(ctx, id); err != nil {
		return 0, err
	}
	n, err := s.st.Admin.RevokeUserTokens(ctx, id, s.now().UTC())
	if err != nil {
		return 0, err
	}
	return n, s.Audit(ctx, actor, AuditUserSessions, id.String(), map[string]string{"families": fmt.Sprint(n)})
}

// ListClients returns every registered client.
func (s *Service) ListClients(ctx context.Context) ([]Client, error) {
	return s.st.Admin.ListClients(ctx)
}

// AdminSetClientDisabled disables a client, revoking the refresh tokens issued to it, or
// re-enables it; ErrNotFound for an unknown client.
func (s *Service) AdminSetClientDisabled(ctx context.Context, actor Actor, id string, disabled bool) error {
	if err := s.st.Admin.SetClientDisabled(ctx, id, disabled, s.now().UTC()); err != nil {
		return err
	}
	action := AuditClientEnable
	if disabled {
		action = AuditClientDisable
	}
	return s.Audit(ctx, actor, action, id, nil)
}

// AdminDeleteClient deletes a client and the refresh tokens issued to it.
func (s *Service) AdminDeleteClient(ctx context.Context, actor Actor, id string) error {
	if err := s.st.Admin.DeleteClient(ctx, id); err != nil {
		return err
	}
	return s.Audit(ctx, actor, AuditClientDelete, id, nil)
}

// AdminRotateClientSecret gives a confidential client a new secret, returned once (only its
// hash is stored); the old secret stops working at once and the refresh tokens issued to the
// client are revoked. ErrNotFound for an unknown or public client.
func (s *Service) AdminRotateClientSecret(ctx context.Context, actor Actor, id string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("client secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	if err := s.st.Admin.SetClientSecret(ctx, id, HashSecret(secret), s.now().UTC()); err != nil {
		return "", err
	}
	return secret, s.Audit(ctx, actor, AuditClientRotate, id, nil)
}

// TokenUser is what a user's access token says of them besides the subject.
type TokenUser struct {
	// Username is the preferred_username claim: the username when the token is issued.
	Username string
	// Roles is the roles claim.
	Roles []string
}

// tokenUser is what a user's token for clientID says of them.
func (s *Service) tokenUser(ctx context.Context, userID uuid.UUID, clientID string) (TokenUser, error) {
	if s.st.Admin == nil {
		return TokenUser{}, nil
	}
	return s.st.Admin.UserClaims(ctx, userID, clientID)
}

// RoleAdmin is the admin role (accesstoken.RoleAdmin).
const RoleAdmin = accesstoken.RoleAdmin

// refreshTokenUser is what a token refreshed from the refresh token with this hash says of
// its user.
func (s *Service) refreshTokenUser(ctx context.Context, hash []byte) (TokenUser, error) {
	if s.st.Admin == nil {
		return TokenUser{}, nil
	}
	return s.st.Admin.RefreshClaims(ctx, hash)
}
