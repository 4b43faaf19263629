package auth

import (
	"context"
	"errors"
	"strings"
)

// AuthenticateWithCode checks a username, password and, for a user with a second factor, a
// code (authenticateWithCode has the rules). Both /v1/login and the authorization endpoint's
// sign-in form go through it; it records every outcome in the audit log: login.success with
// the user's id (mfa=totp when a code was checked), login.mfa when the password was right
// and a code is needed, login.failure with the name tried and why.
func (s *Service) AuthenticateWithCode(ctx context.Context, username, pw, code, address string) (User, error) {
	u, err := s.authenticateWithCode(ctx, username, pw, code, address)
	if err != nil {
		action, reason := AuditLoginFailure, "invalid_credentials"
		switch {
		case errors.Is(err, ErrThrottled):
			reason = "throttled"
		case errors.Is(err, ErrBusy):
			reason = "busy"
		case errors.Is(err, ErrInvalidOTP):
			reason = "invalid_otp"
		case errors.Is(err, ErrMFARequired):
			action, reason = AuditLoginMFA, "mfa_required"
		case errors.Is(err, ErrMFAEnrollmentRequired):
			action, reason = AuditLoginMFA, "mfa_enrollment_required"
		case !errors.Is(err, ErrInvalidCredentials):
			return User{}, err // a storage failure is not a sign-in attempt's outcome
		}
		name := strings.ToLower(username)
		if len(name) > maxUsernameLen {
			name = name[:maxUsernameLen]
		}
		s.auditQuiet(ctx, Actor{Address: address}, action, name, map[string]string{"reason": reason})
		return User{}, err
	}
	d := map[string]string{"username": u.Username}
	if code != "" {
		d["mfa"] = "totp"
	}
	s.auditQuiet(ctx, Actor{ID: u.ID.String(), Address: address}, AuditLoginSuccess, u.ID.String(), d)
	return u, nil
}

// auditIssue records an access token's issuance: to whom, for which client, by which grant.
func (s *Service) auditIssue(ctx context.Context, subject, clientID, grant string, scopes, roles []string) {
	d := map[string]string{"grant": grant, "scope": strings.Join(scopes, " ")}
	if len(roles) > 0 {
		d["roles"] = strings.Join(roles, " ")
	}
	s.auditQuiet(ctx, Actor{ID: subject, ClientID: clientID}, AuditTokenIssued, subject, d)
}
