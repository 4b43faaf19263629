package auth

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/google/uuid"
)

var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,63}$`)

// maxUsernameLen is the longest valid username, in bytes.
const maxUsernameLen = 64

// Password length limits, in bytes. The longest bound keeps a hash from costing more than
// any real password's.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 1024
)

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	switch {
	case len(pw) > MaxPasswordBytes:
		return Invalid("password longer than %d bytes", MaxPasswordBytes)
	case len(pw) < MinPasswordBytes:
		return Invalid("password shorter than %d bytes", MinPasswordBytes)
	}
	return nil
}

// ValidateUsername checks a username: 3 to 64 of a-z, 0-9, '.', '_', '-', starting with a
// letter or digit. Usernames are compared case-insensitively, so they are stored lower-case.
func ValidateUsername(u string) (string, error) {
	u = strings.ToLower(u)
	if !usernamePattern.MatchString(u) {
		return "", Invalid("username must be 3-64 characters of a-z, 0-9, '.', '_' or '-'")
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

// SignupEnabled reports whether self-service sign-up is on (the page offers it).
func (s *Service) SignupEnabled() bool { return s.cfg.SignupEnabled }

// CreateUser creates a user regardless of the sign-up setting (for admin commands).
func (s *Service) CreateUser(ctx context.Context, username, pw string) (User, error) {
	username, err := ValidateUsername(username)
	if err != nil {
		return User{}, err
	}
	if err := ValidatePassword(pw); err != nil {
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
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return mapPasswordErr(err)
	}
	return s.st.Users.SetPasswordHash(ctx, strings.ToLower(username), hash, s.now().UTC())
}

// mapPasswordErr answers a busy hasher with ErrBusy itself (503), whatever wraps it.
func mapPasswordErr(err error) error {
	if errors.Is(err, ErrBusy) {
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
