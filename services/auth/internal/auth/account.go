package auth

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
)

// AccountUser returns the enabled user an access token's subject names; ErrNotFound for a
// subject that is no user (a service client) or a disabled one.
func (s *Service) AccountUser(ctx context.Context, subject string) (User, error) {
	id, err := uuid.Parse(subject)
	if err != nil || s.st.Account == nil {
		return User{}, ErrNotFound
	}
	u, err := s.st.Account.AccountUserByID(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.Disabled {
		return User{}, ErrNotFound
	}
	return u, nil
}

// Account is what a person sees of their own account.
type Account struct {
	User         User
	TOTP         bool
	RecoveryLeft int
	Identities   []Identity
}

// AccountInfo returns the user's account summary.
func (s *Service) AccountInfo(ctx context.Context, u User) (Account, error) {
	a := Account{User: u}
	var err error
	if a.TOTP, a.RecoveryLeft, err = s.MFAStatus(ctx, u.ID); err != nil {
		return Account{}, err
	}
	if s.st.Identities != nil {
		if a.Identities, err = s.st.Identities.Identities(ctx, u.ID); err != nil {
			return Account{}, err
		}
	}
	return a, nil
}

// ChangePassword sets a new password for a user who proves the current one (and their
// second factor, if they have one), under the login throttle. Every refresh token family
// and sign-in session of the user ends, this one included.
func (s *Service) ChangePassword(ctx context.Context, u User, current, code, next, address string) error {
	if err := ValidatePassword(next); err != nil {
		return err
	}
	if _, err := s.AuthenticateWithCode(ctx, u.Username, current, code, address); err != nil {
		return err
	}
	if err := s.SetPassword(ctx, u.Username, next); err != nil {
		return err
	}
	s.auditQuiet(ctx, Actor{ID: u.ID.String(), Address: address}, AuditPasswordChange, u.ID.String(), nil)
	return nil
}

// SignIns lists the user's live sign-ins.
func (s *Service) SignIns(ctx context.Context, u User) ([]SignIn, error) {
	return s.st.Account.ListSignIns(ctx, u.ID, s.now().UTC())
}

// EndSignIn ends one of the user's sign-ins by the id SignIns gave; ErrNotFound if it is
// not theirs (or not live).
func (s *Service) EndSignIn(ctx context.Context, u User, id string) error {
	if err := s.endSignIn(ctx, u, id); err != nil {
		return err
	}
	s.auditQuiet(ctx, Actor{ID: u.ID.String()}, AuditSessionEnd, u.ID.String(), map[string]string{"session": id[:min(len(id), 40)]})
	return nil
}

func (s *Service) endSignIn(ctx context.Context, u User, id string) error {
	switch {
	case strings.HasPrefix(id, "f-"):
		fam, err := uuid.Parse(id[2:])
		if err != nil {
			return ErrNotFound
		}
		return s.st.Account.EndRefreshFamily(ctx, u.ID, fam, s.now().UTC())
	case strings.HasPrefix(id, "s-"):
		hash, err := base64.RawURLEncoding.DecodeString(id[2:])
		if err != nil || len(hash) != 32 {
			return ErrNotFound
		}
		return s.st.Account.EndUserSession(ctx, u.ID, hash)
	}
	return ErrNotFound
}

// SessionID is the id SignIns gives a sign-in session with this hash.
func SessionID(hash []byte) string { return "s-" + base64.RawURLEncoding.EncodeToString(hash) }
