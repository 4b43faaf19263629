package auth

import (
	"context"

	"github.com/cofferhq/coffer/pkg/auditlog"
)

// Auditor appends events to the audit log (auditpg.Store). The auth service records its
// events synchronously: they are few (sign-ins, token issuance, admin actions), and a
// sign-in's record must not be lost to a crash.
type Auditor interface {
	Append(ctx context.Context, events ...auditlog.Event) error
}

// Actor is who performs an audited action.
type Actor struct {
	Kind     string // ActorUser, ActorClient or ActorCLI
	ID       string // the user id, the client id, or the command's name
	ClientID string // the client the user's token was issued to
	Address  string // the caller's network address, if known
}

// Actor kinds.
const (
	ActorUser   = "user"
	ActorClient = "client"
	ActorCLI    = "cli"
)

// Audited actions of the auth service (docs/SECURITY.md, section L).
const (
	AuditLoginSuccess = "login.success"
	AuditLoginFailure = "login.failure"
	AuditLoginMFA     = "login.mfa"
	AuditTokenIssued  = "token.issue"

	AuditUserCreate    = "admin.user.create"
	AuditUserDisable   = "admin.user.disable"
	AuditUserEnable    = "admin.user.enable"
	AuditUserDelete    = "admin.user.delete"
	AuditUserAdmin     = "admin.user.grant_admin"
	AuditUserUnadmin   = "admin.user.revoke_admin"
	AuditUserSessions  = "admin.user.revoke_sessions"
	AuditClientDisable = "admin.client.disable"
	AuditClientEnable  = "admin.client.enable"
	AuditClientDelete  = "admin.client.delete"
	AuditClientRotate  = "admin.client.rotate_secret"
)

// SetAuditor makes the Service record its events with a (nil: none). Call it before serving.
func (s *Service) SetAuditor(a Auditor) { s.audit = a }

// Audit records one event now; with no auditor it does nothing. Other packages of the
// service (sign-in through an upstream provider, MFA) record through it too.
func (s *Service) Audit(ctx context.Context, actor Actor, action, target string, details map[string]string) error {
	if s.audit == nil {
		return nil
	}
	return s.audit.Append(ctx, auditlog.Event{
		At: s.now().UTC(), Actor: actorString(actor), Action: action, Target: target,
		ClientID: actor.ClientID, Address: actor.Address, Details: details,
	})
}

// auditQuiet records an event whose failure must not fail the request it describes (a token
// already issued): the error goes to the caller's log through onAuditError.
func (s *Service) auditQuiet(ctx context.Context, actor Actor, action, target string, details map[string]string) {
	if err := s.Audit(ctx, actor, action, target, details); err != nil && s.onAuditError != nil {
		s.onAuditError(ctx, action, err)
	}
}

// SetAuditErrorHandler receives failures of records that do not fail their request.
func (s *Service) SetAuditErrorHandler(f func(ctx context.Context, action string, err error)) {
	s.onAuditError = f
}

func actorString(a Actor) string {
	if a.Kind == "" || a.Kind == ActorUser {
		return a.ID
	}
	return a.Kind + ":" + a.ID
}
