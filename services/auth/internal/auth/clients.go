package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

var clientIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,63}$`)

// CreateClient registers a service client allowed the given scopes (at least one) and returns
// its secret, the only time the secret exists outside the caller: only its hash is stored.
func (s *Service) CreateClient(ctx context.Context, id string, scopes []string) (Client, string, error) {
	return s.RegisterClient(ctx, ClientSpec{ID: id, Scopes: scopes})
}

// ClientSpec describes a client to register.
type ClientSpec struct {
	ID     string
	Scopes []string // at least one
	// Public registers a client without a secret (a browser or native app), which must use
	// the authorization code grant with PKCE; it needs at least one redirect URI.
	Public bool
	// RedirectURIs are matched exactly: https, http on a loopback host, or a private-use
	// scheme with a dot (RFC 8252 section 7.1); no fragment.
	RedirectURIs []string
	// Origins are browser origins (https, or http on a loopback host) allowed by CORS.
	Origins []string
	// AdminRole lets the client's tokens carry an admin user's admin role (Client.AdminRole).
	AdminRole bool
}

// RegisterClient validates and stores a client. It returns the secret of a confidential
// client, the only time the secret exists outside the caller (only its hash is stored), and
// "" for a public one.
func (s *Service) RegisterClient(ctx context.Context, spec ClientSpec) (Client, string, error) {
	if !clientIDPattern.MatchString(spec.ID) {
		return Client{}, "", Invalid("client id must be 3-64 characters of a-z, 0-9, '.', '_' or '-'")
	}
	// A UUID-shaped id is refused: user ids are UUIDs, and nothing may ever be mistaken
	// for one (client tokens' subjects are also namespaced, accesstoken.ClientSubject).
	if _, err := uuid.Parse(spec.ID); err == nil {
		return Client{}, "", Invalid("client id %q has the form of a user id", spec.ID)
	}
	if spec.ID == FirstPartyClientID {
		return Client{}, "", Invalid("client id %q is reserved", spec.ID)
	}
	if len(spec.Scopes) == 0 {
		return Client{}, "", Invalid("a client needs at least one scope")
	}
	if spec.Public && len(spec.RedirectURIs) == 0 {
		return Client{}, "", Invalid("a public client needs at least one redirect URI")
	}
	for _, u := range spec.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return Client{}, "", err
		}
	}
	for _, o := range spec.Origins {
		if err := checkOrigin(o); err != nil {
			return Client{}, "", err
		}
	}
	c := Client{ID: spec.ID, Scopes: spec.Scopes, RedirectURIs: spec.RedirectURIs, Origins: spec.Origins, CreatedAt: s.now().UTC(), AdminRole: spec.AdminRole}
	var secret string
	if !spec.Public {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return Client{}, "", fmt.Errorf("client secret: %w", err)
		}
		secret = base64.RawURLEncoding.EncodeToString(b[:])
		c.SecretHash = HashSecret(secret)
	}
	if err := s.st.Clients.CreateClient(ctx, c); err != nil {
		return Client{}, "", err
	}
	return c, secret, nil
}

// checkRedirectURI accepts an absolute URI without fragment: https, http on a loopback host
// (RFC 8252 section 7.3), or a private-use scheme containing a dot (section 7.1).
func checkRedirectURI(raw string) error {
	bad := func(why string) error {
		return Invalid("redirect URI %q %s", raw, why)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || len(raw) > 2000 {
		return bad("is not an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("has a fragment")
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme != "http" && u.Scheme != "https" && strings.Contains(u.Scheme, "."):
	default:
		return bad("must be https, http on a loopback host, or a private-use scheme like com.example.app:/cb")
	}
	return nil
}

// checkOrigin accepts scheme://host[:port] exactly, https or http on a loopback host.
func checkOrigin(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		strings.HasSuffix(raw, "/") || raw != strings.ToLower(u.Scheme)+"://"+u.Host ||
		!(u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return Invalid("origin %q must be scheme://host[:port] (https, or http on a loopback host)", raw)
	}
	return nil
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ClientAuth is how a token request identified its client: ID empty when it named none
// (Coffer's own client), Secret empty for a public client.
type ClientAuth struct{ ID, Secret string }

// authenticateClient checks a token request's client. No client id, or Coffer's own, is the
// first-party public client; a public client must not send a secret and a confidential one
// must send its own. ErrInvalidClient otherwise (unknown, disabled and wrong alike).
func (s *Service) authenticateClient(ctx context.Context, ca ClientAuth) (Client, error) {
	if ca.ID == "" || ca.ID == FirstPartyClientID {
		if ca.Secret != "" {
			return Client{}, ErrInvalidClient
		}
		return Client{ID: FirstPartyClientID}, nil
	}
	c, err := s.st.Clients.ClientByID(ctx, ca.ID)
	known := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Client{}, err
	}
	if known && c.Public() {
		if ca.Secret != "" || c.Disabled {
			return Client{}, ErrInvalidClient
		}
		return c, nil
	}
	want := c.SecretHash
	if !known {
		want = s.dummyClientHash
	}
	if subtle.ConstantTimeCompare(HashSecret(ca.Secret), want) != 1 || !known || c.Disabled {
		return Client{}, ErrInvalidClient
	}
	return c, nil
}

// OriginAllowed reports whether a registered client lists origin for CORS.
func (s *Service) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	if len(origin) > 300 || checkOrigin(origin) != nil {
		return false, nil
	}
	return s.st.Clients.OriginAllowed(ctx, origin)
}

// ClientCredentials authenticates a service client and issues an access token whose client_id
// is the client's id and whose sub is accesstoken.ClientSubject of it (never a user's), with the requested scopes (all the client's scopes when none
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
	at, ttl, err := s.issuer.Issue(ctx, accesstoken.ClientSubject(c.ID), "", c.ID, granted)
	if err != nil {
		return TokenResponse{}, err
	}
	s.auditIssue(ctx, ActorClient+":"+c.ID, c.ID, "client_credentials", granted, nil)
	return TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds()), Scope: strings.Join(granted, " ")}, nil
}
