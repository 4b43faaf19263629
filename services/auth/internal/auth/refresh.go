package auth

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Refresh exchanges a refresh token for a new access token and a new refresh token in the
// same family (RFC 6749 section 6). The presented token is used up; presenting it again
// revokes the family (ErrRefreshReused). scopes may narrow the access token's scope within
// the family's; the new refresh token keeps the family's scope.
func (s *Service) Refresh(ctx context.Context, token string, scopes []string) (TokenResponse, error) {
	if !plausibleSecret(token) {
		return TokenResponse{}, ErrInvalidGrant
	}
	rt, hash, err := NewRefreshSecret()
	if err != nil {
		return TokenResponse{}, err
	}
	var resp TokenResponse
	now := s.now().UTC()
	err = s.st.Refresh.RotateRefreshToken(ctx, HashRefreshSecret(token), now, func(used RefreshToken) (RefreshToken, error) {
		granted, err := narrowScopes(scopes, strings.Fields(used.Scope), strings.Fields(used.Scope))
		if err != nil {
			return RefreshToken{}, err
		}
		at, ttl, err := s.issuer.Issue(ctx, used.UserID.String(), FirstPartyClientID, granted)
		if err != nil {
			return RefreshToken{}, err
		}
		resp = TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second), RefreshToken: rt, Scope: strings.Join(granted, " ")}
		return RefreshToken{
			ID: uuid.New(), FamilyID: used.FamilyID, UserID: used.UserID, Hash: hash, Scope: used.Scope,
			CreatedAt: now, ExpiresAt: minTime(now.Add(s.cfg.RefreshIdleTTL), used.FamilyExpiresAt), FamilyExpiresAt: used.FamilyExpiresAt,
		}, nil
	})
	if err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}

// Revoke ends the family of a refresh token (RFC 7009). Unknown or malformed tokens, and
// access tokens (which are stateless), are accepted silently, as the RFC asks.
func (s *Service) Revoke(ctx context.Context, token string) error {
	if !plausibleSecret(token) {
		return nil
	}
	return s.st.Refresh.RevokeRefreshFamily(ctx, HashRefreshSecret(token), s.now().UTC())
}

// Sweep deletes refresh token families past their absolute lifetime and login counts of
// ended windows. Every replica may run it; it is idempotent.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now().UTC()
	if _, err := s.st.Refresh.DeleteExpiredRefreshTokens(ctx, now); err != nil {
		return err
	}
	_, err := s.st.Throttle.DeleteLoginAttempts(ctx, now.Add(-s.cfg.LoginWindow))
	return err
}
