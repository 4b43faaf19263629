package auth

import (
	"context"
	"errors"
	"strings"
)

// Authenticate checks a username and password under the login throttle (the rules of
// Login) and returns the user. Both /v1/login and the authorization endpoint's sign-in form
// go through it; it records every outcome in the audit log (login.success with the user's
// id, login.failure with the name tried and why).
func (s *Service) Authenticate(ctx context.Context, username, pw, address string) (User, error) {
	u, err := s.authenticate(ctx, username, pw, address)
	if err != nil {
		reason := "invalid_credentials"
		switch {
		case errors.Is(err, ErrThrottled):
			reason = "throttled"
		case errors.Is(err, ErrBusy):
			reason = "busy"
		case !errors.Is(err, ErrInvalidCredentials):
			return User{}, err // a storage failure is not a sign-in attempt's outcome
		}
		name := strings.ToLower(username)
		if len(name) > maxUsernameLen {
			name = name[:maxUsernameLen]
		}
		s.auditQuiet(ctx, Actor{Address: address}, AuditLoginFailure, name, map[string]string{"reason": reason})
		return User{}, err
	}
	s.auditQuiet(ctx, Actor{ID: u.ID.String(), Address: address}, AuditLoginSuccess, u.ID.String(), map[string]string{"username": u.Username})
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
