package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/envconf"
	"github.com/cofferhq/coffer/services/auth/internal/api"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/secretbox"
	"github.com/cofferhq/coffer/services/auth/internal/upstream"
)

// identityConfig is the identity half of the settings: second factors, upstream providers,
// invitations.
type identityConfig struct {
	MFARequired    bool               // COFFER_AUTH_MFA_REQUIRED, default false: every user with a password needs a second factor
	UpstreamExempt bool               // COFFER_AUTH_UPSTREAM_MFA_EXEMPT, default false: people signed in upstream skip Coffer's second factor
	InvitationTTL  time.Duration      // COFFER_AUTH_INVITATION_TTL, default 168h: how long an invitation or reset link lasts
	Providers      []providerSettings // COFFER_AUTH_OIDC_PROVIDERS (JSON) or COFFER_AUTH_OIDC_PROVIDERS_FILE
}

// providerSettings is one entry of COFFER_AUTH_OIDC_PROVIDERS.
type providerSettings struct {
	Name         string   `json:"name"`
	DisplayName  string   `json:"display_name"`
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	AllowSignup  bool     `json:"allow_signup"`
	EmailDomains []string `json:"email_domains"`
	Groups       []string `json:"groups"`
	GroupsClaim  string   `json:"groups_claim"`
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

func loadIdentityConfig(r *envconf.Reader) identityConfig {
	def := auth.DefaultConfig()
	c := identityConfig{
		MFARequired:    r.Bool("COFFER_AUTH_MFA_REQUIRED", def.MFARequired),
		UpstreamExempt: r.Bool("COFFER_AUTH_UPSTREAM_MFA_EXEMPT", def.UpstreamMFAExempt),
		InvitationTTL:  r.Duration("COFFER_AUTH_INVITATION_TTL", def.InvitationTTL),
	}
	if c.InvitationTTL < time.Minute || c.InvitationTTL > 90*24*time.Hour {
		r.Fail("COFFER_AUTH_INVITATION_TTL", "must be between 1m and 2160h")
	}
	raw := r.Secret("COFFER_AUTH_OIDC_PROVIDERS", os.ReadFile)
	if strings.TrimSpace(raw) == "" {
		return c
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Providers); err != nil {
		// The value may hold client secrets: name the setting, never echo it.
		r.Fail("COFFER_AUTH_OIDC_PROVIDERS", "must be a JSON array of providers (name, display_name, issuer, client_id, client_secret, scopes, allow_signup, email_domains, groups, groups_claim)")
		return c
	}
	seen := map[string]bool{}
	for i, p := range c.Providers {
		u, err := url.Parse(p.Issuer)
		switch {
		case !providerName.MatchString(p.Name) || seen[p.Name]:
			r.Fail("COFFER_AUTH_OIDC_PROVIDERS", "provider %d: name must be unique, 1-32 of a-z, 0-9, '_' or '-'", i)
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			r.Fail("COFFER_AUTH_OIDC_PROVIDERS", "provider %q: issuer must be an http(s) URL", p.Name)
		case p.ClientID == "":
			r.Fail("COFFER_AUTH_OIDC_PROVIDERS", "provider %q: client_id is required", p.Name)
		}
		if p.DisplayName == "" {
			c.Providers[i].DisplayName = p.Name
		}
		for j, d := range p.EmailDomains {
			c.Providers[i].EmailDomains[j] = strings.ToLower(d)
		}
		seen[p.Name] = true
	}
	return c
}

// useIdentity gives the service its TOTP sealer and upstream providers.
func useIdentity(svc *auth.Service, cfg config) error {
	box, err := secretbox.New(cfg.KEK, "totp v1")
	if err != nil {
		return err
	}
	svc.UseSealer(box)
	if len(cfg.Identity.Providers) == 0 {
		return nil
	}
	policies := make([]auth.UpstreamPolicy, 0, len(cfg.Identity.Providers))
	providers := map[string]auth.UpstreamProvider{}
	redirect := accesstoken.NormalizeIssuer(cfg.Issuer) + api.UpstreamCallbackPath
	for _, p := range cfg.Identity.Providers {
		policies = append(policies, auth.UpstreamPolicy{Name: p.Name, DisplayName: p.DisplayName, AllowSignup: p.AllowSignup, EmailDomains: p.EmailDomains, Groups: p.Groups})
		providers[p.Name] = upstream.New(upstream.Config{Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			Scopes: p.Scopes, RedirectURL: redirect, GroupsClaim: p.GroupsClaim}, nil)
	}
	svc.UseUpstream(auth.NewUpstreams(policies, providers))
	return nil
}

const invitationsUsage = `usage:
  coffer-auth invitations create [--username NAME] [--ttl 168h]
                                   print a one-time link that creates an account
  coffer-auth invitations reset NAME [--ttl 168h]
                                   clear NAME's password, end their sign-ins and print a
                                   one-time link where they set a new one`

// invitationsCmd is the operator's way to invite people and reset passwords (the admin API's
// POST /v1/admin/invitations does the same for admins).
func invitationsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "reset") {
		return errors.New(invitationsUsage)
	}
	sub, args := args[0], args[1:]
	req := auth.InvitationRequest{Kind: auth.InviteKind, CreatedBy: "cli", Actor: cliActor()}
	if sub == "reset" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return errors.New(invitationsUsage)
		}
		req.Kind, req.Username, args = auth.ResetKind, args[0], args[1:]
	}
	fs := flag.NewFlagSet("invitations "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if sub == "create" {
		fs.StringVar(&req.Username, "username", "", "the invitee's username (default: they choose)")
	}
	fs.DurationVar(&req.TTL, "ttl", 0, "how long the link lasts (default COFFER_AUTH_INVITATION_TTL)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errors.New(invitationsUsage)
	}
	cfg, pool, err := adminDB(ctx, getenv, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	inv, token, err := adminService(cfg, pool).CreateInvitation(ctx, req)
	if err != nil {
		return err
	}
	what := "invitation"
	if inv.Kind == auth.ResetKind {
		what = "password reset for " + inv.Username
	}
	fmt.Fprintf(stdout, "%s %s, valid until %s:\n%s\n", what, inv.ID, inv.ExpiresAt.Format(time.RFC3339), api.InvitationURL(cfg.Issuer, token))
	return nil
}
