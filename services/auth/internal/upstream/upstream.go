// Package upstream signs people in through an upstream OpenID Connect provider with
// github.com/coreos/go-oidc and golang.org/x/oauth2: discovery, the authorization code flow
// with PKCE and nonce, and ID token verification (signature, issuer, audience, expiry,
// nonce). What to do with the person is the auth domain's business.
package upstream

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// Config is one provider as the operator configured it.
type Config struct {
	Issuer       string   // must equal the issuer the provider announces, byte for byte
	ClientID     string   // Coffer's client at the provider
	ClientSecret string   // empty for a public client (PKCE only)
	Scopes       []string // default openid, email, profile
	RedirectURL  string   // Coffer's callback, registered at the provider
	// GroupsClaim names the ID token (or userinfo) claim holding group names. Default "groups".
	GroupsClaim string
}

// Provider is one upstream OpenID provider, discovered on first use (and again after a
// failed discovery), so the auth service starts while a provider is down.
type Provider struct {
	cfg    Config
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

var _ auth.UpstreamProvider = (*Provider)(nil)

// New returns a provider; client makes its HTTP calls (nil: a client with a 10 s timeout).
func New(cfg Config, client *http.Client) *Provider {
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if client == nil {
		// No redirects: a provider's endpoints answer directly.
		client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Provider{cfg: cfg, client: client}
}

// Issuer implements auth.UpstreamProvider.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

func (p *Provider) ctx(ctx context.Context) context.Context { return oidc.ClientContext(ctx, p.client) }

// discover returns the provider's metadata, fetching it once. go-oidc refuses a document
// whose issuer is not exactly the configured one (OpenID Connect Discovery section 4.3).
func (p *Provider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	// The key set go-oidc keeps fetches with the context given here: a background one with
	// our client, not the request's (which ends with the request).
	op, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), p.client), p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("upstream: discovery of %s: %w", p.cfg.Issuer, err)
	}
	p.provider = op
	return op, nil
}

func (p *Provider) oauth(op *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: op.Endpoint(), RedirectURL: p.cfg.RedirectURL, Scopes: p.cfg.Scopes}
}

// AuthURL implements auth.UpstreamProvider.
func (p *Provider) AuthURL(ctx context.Context, state, nonce, challenge string) (string, error) {
	op, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.oauth(op).AuthCodeURL(state, oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("code_challenge", challenge), oauth2.SetAuthURLParam("code_challenge_method", "S256")), nil
}

// Exchange implements auth.UpstreamProvider.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce string) (auth.UpstreamClaims, error) {
	op, err := p.discover(ctx)
	if err != nil {
		return auth.UpstreamClaims{}, err
	}
	ctx = p.ctx(ctx)
	tok, err := p.oauth(op).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return auth.UpstreamClaims{}, fmt.Errorf("upstream: token exchange: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return auth.UpstreamClaims{}, errors.New("upstream: the token response has no id_token")
	}
	// Signature, iss, aud (our client id) and exp.
	idt, err := op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return auth.UpstreamClaims{}, fmt.Errorf("upstream: id_token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return auth.UpstreamClaims{}, errors.New("upstream: id_token nonce does not match the request's")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return auth.UpstreamClaims{}, fmt.Errorf("upstream: at_hash: %w", err)
		}
	}
	claims := auth.UpstreamClaims{Issuer: idt.Issuer, Subject: idt.Subject}
	if err := p.readClaims(idt.Claims, &claims); err != nil {
		return auth.UpstreamClaims{}, err
	}
	// Many providers put email and groups only in userinfo; its sub must be the token's
	// (OpenID Connect Core section 5.3.2).
	if claims.Email == "" && op.UserInfoEndpoint() != "" {
		info, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return auth.UpstreamClaims{}, fmt.Errorf("upstream: userinfo: %w", err)
		}
		if info.Subject != idt.Subject {
			return auth.UpstreamClaims{}, errors.New("upstream: userinfo sub differs from the id_token's")
		}
		if err := p.readClaims(info.Claims, &claims); err != nil {
			return auth.UpstreamClaims{}, err
		}
	}
	return claims, nil
}

// readClaims fills the profile claims Coffer uses from a claims decoder.
func (p *Provider) readClaims(decode func(any) error, c *auth.UpstreamClaims) error {
	var raw map[string]any
	if err := decode(&raw); err != nil {
		return fmt.Errorf("upstream: claims: %w", err)
	}
	if v, ok := raw["email"].(string); ok && v != "" {
		c.Email = v
		c.EmailVerified, _ = raw["email_verified"].(bool)
	}
	if v, ok := raw["preferred_username"].(string); ok && v != "" {
		c.PreferredUsername = v
	}
	if gs, ok := raw[p.cfg.GroupsClaim].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				c.Groups = append(c.Groups, s)
			}
		}
	}
	return nil
}
