package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Refresh exchanges a refresh token of Coffer's own client (from /v1/login) for a new access
// token and refresh token, as RefreshAs does.
func (s *Service) Refresh(ctx context.Context, token string, scopes []string) (TokenResponse, error) {
	return s.RefreshAs(ctx, ClientAuth{}, token, scopes)
}

// RefreshAs exchanges a refresh token for a new access token and a new refresh token in the
// same family (RFC 6749 section 6). The token must belong to the authenticated client (a
// public client only names itself). The presented token is used up; presenting it again
// revokes the family (ErrRefreshReused), except within Config.RefreshReuseInterval while its
// successor is unused, when the same successor is returned again. scopes may narrow the
// access token's scope within the family's; the new refresh token keeps the family's scope.
func (s *Service) RefreshAs(ctx context.Context, ca ClientAuth, token string, scopes []string) (TokenResponse, error) {
	client, err := s.authenticateClient(ctx, ca)
	if err != nil {
		return TokenResponse{}, err
	}
	if !plausibleSecret(token) {
		return TokenResponse{}, ErrInvalidGrant
	}
	// Roles and the username are read afresh at each refresh (before the rotation's
	// transaction, which must not wait for a second connection): a revoked admin role ends
	// with the access tokens already issued, a granted one starts at the next refresh.
	tu, err := s.refreshTokenUser(ctx, HashRefreshSecret(token))
	if err != nil {
		return TokenResponse{}, err
	}
	roles := tu.Roles
	rt := s.successor(token)
	hash := HashRefreshSecret(rt)
	var resp TokenResponse
	now := s.now().UTC()
	err = s.st.Refresh.RotateRefreshToken(ctx, HashRefreshSecret(token), now, now.Add(-s.cfg.RefreshReuseInterval), hash, func(used RefreshToken, _ bool) (RefreshToken, error) {
		if used.ClientID != client.ID {
			return RefreshToken{}, ErrInvalidGrant
		}
		granted, err := narrowScopes(scopes, strings.Fields(used.Scope), strings.Fields(used.Scope))
		if err != nil {
			return RefreshToken{}, err
		}
		at, ttl, err := s.issuer.Issue(ctx, used.UserID.String(), tu.Username, used.ClientID, granted, roles...)
		if err != nil {
			return RefreshToken{}, err
		}
		resp = TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), RefreshToken: rt, Scope: strings.Join(granted, " "),
			subject: used.UserID.String(), roles: roles}
		return RefreshToken{
			ID: uuid.New(), FamilyID: used.FamilyID, UserID: used.UserID, ClientID: used.ClientID, Hash: hash, Scope: used.Scope,
			CreatedAt: now, ExpiresAt: minTime(now.Add(s.cfg.RefreshIdleTTL), used.FamilyExpiresAt), FamilyExpiresAt: used.FamilyExpiresAt,
		}, nil
	})
	if err != nil {
		return TokenResponse{}, err
	}
	s.auditIssue(ctx, resp.subject, client.ID, "refresh_token", strings.Fields(resp.Scope), resp.roles)
	return resp, nil
}

// successor is the refresh token that rotating token yields: HMAC-SHA256 under the refresh
// key, so a retry computes the same successor and only the service can.
func (s *Service) successor(token string) string {
	m := hmac.New(sha256.New, s.cfg.RefreshKey)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Revoke ends the family of a refresh token (RFC 7009). Unknown or malformed tokens, and
// access tokens (which are stateless), are accepted silently, as the RFC asks.
func (s *Service) Revoke(ctx context.Context, token string) error {
	if !plausibleSecret(token) {
		return nil
	}
	return s.st.Refresh.RevokeRefreshFamily(ctx, HashRefreshSecret(token), s.now().UTC())
}

// Sweep deletes refresh token families past their absolute lifetime, login counts of ended
// windows, ended sign-in sessions and authorization codes a day past their expiry (kept that
// long so a late replay still revokes what they issued). Every replica may run it; it is
// idempotent.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now().UTC()
	if _, err := s.st.Refresh.DeleteExpiredRefreshTokens(ctx, now); err != nil {
		return err
	}
	if s.st.Codes != nil {
		if _, err := s.st.Codes.DeleteExpiredCodes(ctx, now.Add(-24*time.Hour)); err != nil {
			return err
		}
	}
	if s.st.Sessions != nil {
		if _, err := s.st.Sessions.DeleteExpiredSessions(ctx, now); err != nil {
			return err
		}
	}
	if err := s.sweepIdentity(ctx, now); err != nil {
		return err
	}
	_, err := s.st.Throttle.DeleteLoginAttempts(ctx, now.Add(-s.cfg.LoginWindow))
	return err
}
