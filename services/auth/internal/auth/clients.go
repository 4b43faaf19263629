package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

var clientIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,63}$`)

// CreateClient registers a service client allowed the given scopes (at least one) and returns
// its secret, the only time the secret exists outside the caller: only its hash is stored.
func (s *Service) CreateClient(ctx context.Context, id string, scopes []string) (Client, string, error) {
	if !clientIDPattern.MatchString(id) {
		return Client{}, "", Invalid("client id must be 3-64 characters of a-z, 0-9, '.', '_' or '-'")
	}
	if id == FirstPartyClientID {
		return Client{}, "", Invalid("client id %q is reserved", id)
	}
	if len(scopes) == 0 {
		return Client{}, "", Invalid("a client needs at least one scope")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Client{}, "", fmt.Errorf("client secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	c := Client{ID: id, SecretHash: HashSecret(secret), Scopes: scopes, CreatedAt: s.now().UTC()}
	if err := s.st.Clients.CreateClient(ctx, c); err != nil {
		return Client{}, "", err
	}
	return c, secret, nil
}

// ClientCredentials authenticates a service client and issues an access token whose sub and
// client_id are the client's id, with the requested scopes (all the client's scopes when none
// is asked). ErrInvalidClient for an unknown or disabled client or a wrong secret, all alike;
// ErrInvalidScope for a scope the client may not have. No refresh token is issued (RFC 6749
// section 4.4.3).
func (s *Service) ClientCredentials(ctx context.Context, clientID, secret string, scopes []string) (TokenResponse, error) {
	c, err := s.st.Clients.ClientByID(ctx, clientID)
	known := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return TokenResponse{}, err
	}
	want := c.SecretHash
	if !known {
		want = s.dummyClientHash
	}
	// Compare hashes, in constant time, so the comparison leaks nothing about the secret.
	if subtle.ConstantTimeCompare(HashSecret(secret), want) != 1 || !known || c.Disabled {
		return TokenResponse{}, ErrInvalidClient
	}
	granted, err := narrowScopes(scopes, c.Scopes, c.Scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	at, ttl, err := s.issuer.Issue(ctx, c.ID, c.ID, granted)
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds()), Scope: strings.Join(granted, " ")}, nil
}
