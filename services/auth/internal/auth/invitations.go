package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
)

// InvitationRequest is an admin's invitation or password reset.
type InvitationRequest struct {
	Kind      string        // InviteKind or ResetKind
	Username  string        // an invitation's fixed username (optional); a reset's user (required)
	CreatedBy string        // who asked (an admin's username or "cli"), for the record
	TTL       time.Duration // 0: Config.InvitationTTL
	Actor     Actor         // who asked, for the audit log
}

// Audited identity actions (the admin's, and a person's own).
const (
	AuditInvitationCreate = "admin.invitation.create"
	AuditInvitationRevoke = "admin.invitation.revoke"
	AuditPasswordReset    = "admin.user.reset_password"
	AuditInvitationUse    = "account.invitation.use"
	AuditPasswordChange   = "account.password.change"
	AuditTOTPEnable       = "account.totp.enable"
	AuditTOTPDisable      = "account.totp.disable"
	AuditSessionEnd       = "account.session.end"
	AuditLoginUpstream    = "login.upstream"
)

// CreateInvitation creates a one-time link and returns it with its token, the only time the
// token exists outside the caller. A reset clears the user's password and ends their
// sign-ins at once: the user must set a new password through the link.
func (s *Service) CreateInvitation(ctx context.Context, req InvitationRequest) (Invitation, string, error) {
	if s.st.Invitations == nil {
		return Invitation{}, "", ErrNotFound
	}
	now := s.now().UTC()
	ttl := req.TTL
	if ttl == 0 {
		ttl = s.cfg.InvitationTTL
	}
	if ttl < time.Minute || ttl > 90*24*time.Hour {
		return Invitation{}, "", Invalid("an invitation lasts between 1m and 90 days")
	}
	inv := Invitation{ID: uuid.New(), Kind: req.Kind, CreatedBy: req.CreatedBy, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	switch req.Kind {
	case InviteKind:
		if req.Username != "" {
			name, err := ValidateUsername(req.Username)
			if err != nil {
				return Invitation{}, "", err
			}
			if _, err := s.st.Users.UserByUsername(ctx, name); err == nil {
				return Invitation{}, "", ErrUsernameTaken
			} else if !errors.Is(err, ErrNotFound) {
				return Invitation{}, "", err
			}
			inv.Username = name
		}
	case ResetKind:
		u, err := s.st.Users.UserByUsername(ctx, strings.ToLower(req.Username))
		if err != nil {
			return Invitation{}, "", err
		}
		inv.Username, inv.UserID = u.Username, &u.ID
	default:
		return Invitation{}, "", Invalid("kind must be invite or reset")
	}
	token, hash, err := NewRefreshSecret()
	if err != nil {
		return Invitation{}, "", err
	}
	if err := s.st.Invitations.CreateInvitation(ctx, inv, hash, now); err != nil {
		return Invitation{}, "", err
	}
	action, target := AuditInvitationCreate, inv.ID.String()
	if inv.Kind == ResetKind {
		action, target = AuditPasswordReset, inv.UserID.String()
	}
	d := map[string]string{"invitation": inv.ID.String(), "username": inv.Username, "expires_at": inv.ExpiresAt.Format(time.RFC3339)}
	return inv, token, s.Audit(ctx, req.Actor, action, target, d)
}

// ListInvitations lists every invitation and reset link, newest first.
func (s *Service) ListInvitations(ctx context.Context) ([]Invitation, error) {
	return s.st.Invitations.ListInvitations(ctx)
}

// RevokeInvitation makes an unused invitation or reset link unusable at once (a reset's user
// still has no password: another reset gives them one). ErrNotFound if the link is unknown
// or was used.
func (s *Service) RevokeInvitation(ctx context.Context, actor Actor, id uuid.UUID) error {
	if s.st.Invitations == nil {
		return ErrNotFound
	}
	inv, err := s.st.Invitations.RevokeInvitation(ctx, id)
	if err != nil {
		return err
	}
	return s.Audit(ctx, actor, AuditInvitationRevoke, inv.ID.String(), map[string]string{"kind": inv.Kind, "username": inv.Username})
}

// Invitation returns the usable invitation or reset link of a token; ErrInvitationInvalid
// if it is unknown, used or expired.
func (s *Service) Invitation(ctx context.Context, token string) (Invitation, error) {
	if !plausibleSecret(token) || s.st.Invitations == nil {
		return Invitation{}, ErrInvitationInvalid
	}
	inv, err := s.st.Invitations.InvitationByHash(ctx, HashSecret(token), s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return Invitation{}, ErrInvitationInvalid
	}
	return inv, err
}

// AcceptWithPassword uses an invitation or reset link: an invitation creates the user
// (username is the invitation's fixed one if it has one), a reset sets the user's new
// password. ErrInvitationInvalid if the link is unusable, ErrUsernameTaken.
func (s *Service) AcceptWithPassword(ctx context.Context, token, username, pw string) (User, error) {
	inv, err := s.Invitation(ctx, token)
	if err != nil {
		return User{}, err
	}
	if err := ValidatePassword(pw); err != nil {
		return User{}, err
	}
	if inv.Kind == InviteKind && inv.Username == "" {
		if username, err = ValidateUsername(username); err != nil {
			return User{}, err
		}
	} else {
		username = inv.Username
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, mapPasswordErr(err)
	}
	now := s.now().UTC()
	if inv.Kind == ResetKind {
		u, err := s.st.Invitations.AcceptReset(ctx, HashSecret(token), now, hash)
		if errors.Is(err, ErrNotFound) {
			return User{}, ErrInvitationInvalid
		}
		if err == nil {
			s.auditQuiet(ctx, Actor{ID: u.ID.String()}, AuditPasswordChange, u.ID.String(), map[string]string{"via": "reset", "invitation": inv.ID.String()})
		}
		return u, err
	}
	u := User{ID: uuid.New(), Username: username, PasswordHash: hash, CreatedAt: now}
	err = s.st.Invitations.AcceptInvitation(ctx, HashSecret(token), now, u, nil)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrInvitationInvalid
	}
	if err == nil {
		s.auditQuiet(ctx, Actor{ID: u.ID.String()}, AuditInvitationUse, u.ID.String(), map[string]string{"invitation": inv.ID.String(), "username": u.Username})
	}
	return u, err
}

// sweepIdentity deletes upstream sign-ins in flight and links that expired (links a day
// after, so an admin can still see one expire).
func (s *Service) sweepIdentity(ctx context.Context, now time.Time) error {
	if s.st.Identities != nil {
		if _, err := s.st.Identities.DeleteExpiredUpstreamLogins(ctx, now); err != nil {
			return err
		}
	}
	if s.st.Invitations != nil {
		if _, err := s.st.Invitations.DeleteExpiredInvitations(ctx, now.Add(-24*time.Hour)); err != nil {
			return err
		}
	}
	return nil
}
