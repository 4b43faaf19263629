package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
	"github.com/cofferhq/coffer/services/auth/internal/password"
	"github.com/cofferhq/coffer/services/auth/internal/postgres"
)

// adminDB opens and migrates the database for an admin command; call the returned close.
func adminDB(ctx context.Context, getenv func(string) string, needKEK bool) (config, *pgxpool.Pool, error) {
	cfg, err := loadConfig(getenv, needKEK)
	if err != nil {
		return cfg, nil, fmt.Errorf("configuration:\n%w", err)
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return cfg, nil, fmt.Errorf("database: %w", err)
	}
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		pool.Close()
		return cfg, nil, err
	}
	return cfg, pool, nil
}

func adminService(cfg config, pool *pgxpool.Pool) *auth.Service {
	svc := auth.NewService(stores(postgres.New(pool)), password.NewHasher(password.DefaultParams, 1), nil, serviceConfig(cfg), nil)
	svc.SetAuditor(auditStore(pool))
	return svc
}

const usersUsage = `usage:
  coffer-auth users create NAME    create a user (password on stdin)
  coffer-auth users passwd NAME    set a user's password (on stdin); ends their sessions
  coffer-auth users disable NAME   disable a user; ends their sessions
` + adminUsersUsage

func usersCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if handled, err := adminUsersCmd(ctx, args, getenv, stdout); handled {
		return err
	}
	if len(args) != 2 {
		return errors.New(usersUsage)
	}
	sub, name := args[0], args[1]
	if sub != "create" && sub != "passwd" && sub != "disable" {
		return errors.New(usersUsage)
	}
	cfg, pool, err := adminDB(ctx, getenv, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc := adminService(cfg, pool)
	switch sub {
	case "create":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		u, err := svc.AdminCreateUser(ctx, cliActor(), name, pw, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s (%s)\n", u.Username, u.ID)
	case "passwd":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, name, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; their refresh tokens are revoked\n", name)
	case "disable":
		u, err := svc.UserByName(ctx, name)
		if err != nil {
			return err
		}
		if err := svc.AdminSetUserDisabled(ctx, cliActor(), u.ID, true); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s disabled; their refresh tokens are revoked\n", name)
	}
	return nil
}

// readPassword reads one line, bounded, from stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, password.MaxLength+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

const clientsUsage = `usage:
  coffer-auth clients create ID [--scopes "files:read files:write"] [--public]
                                [--redirect-uri URI]... [--origin ORIGIN]...

  Without --public the client is confidential: a secret is printed once. A client with
  redirect URIs may use the authorization code grant (PKCE S256 required); --public makes
  one without a secret (a browser or native app), which needs a redirect URI. --origin lists
  a browser origin (https://app.example) allowed to call the token endpoint (CORS).
  --redirect-uri and --origin repeat, or take several values separated by spaces.
  --admin-role lets the client's tokens carry an admin user's admin role (Coffer's web page)
` + adminClientsUsage

// listFlag collects a repeated flag; each value may hold several space-separated items.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, strings.Fields(v)...)
	return nil
}

func clientsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if handled, err := adminClientsCmd(ctx, args, getenv, stdout); handled {
		return err
	}
	if len(args) < 2 || args[0] != "create" {
		return errors.New(clientsUsage)
	}
	spec := auth.ClientSpec{ID: args[1]}
	fs := flag.NewFlagSet("clients create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scopeList := fs.String("scopes", strings.Join([]string{"files:read"}, " "), "space-separated scopes the client may ask for")
	fs.BoolVar(&spec.Public, "public", false, "no secret: a browser or native app using the authorization code grant with PKCE")
	fs.Var((*listFlag)(&spec.RedirectURIs), "redirect-uri", "an exact redirect URI of the authorization code grant (repeatable)")
	fs.Var((*listFlag)(&spec.Origins), "origin", "a browser origin allowed to call the token endpoint (repeatable)")
	fs.BoolVar(&spec.AdminRole, "admin-role", false, "tokens of admin users carry the admin role (only for Coffer's own web page)")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() != 0 {
		return errors.New(clientsUsage)
	}
	scopes, err := auth.ParseScopes(*scopeList)
	if err != nil {
		return err
	}
	spec.Scopes = scopes
	cfg, pool, err := adminDB(ctx, getenv, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	c, secret, err := adminService(cfg, pool).RegisterClient(ctx, spec)
	if err != nil {
		return err
	}
	kind := "confidential"
	if c.Public() {
		kind = "public"
	}
	fmt.Fprintf(stdout, "client_id: %s\ntype: %s\nscopes: %s\n", c.ID, kind, strings.Join(c.Scopes, " "))
	if len(c.RedirectURIs) > 0 {
		fmt.Fprintf(stdout, "redirect_uris: %s\n", strings.Join(c.RedirectURIs, " "))
	}
	if len(c.Origins) > 0 {
		fmt.Fprintf(stdout, "origins: %s\n", strings.Join(c.Origins, " "))
	}
	if secret != "" {
		// The secret is shown once, here; only its hash is stored.
		fmt.Fprintf(stdout, "client_secret: %s\n(store the secret now: it cannot be shown again)\n", secret)
	}
	return nil
}

const keysUsage = `usage:
  coffer-auth keys list      list signing keys with their states and times
  coffer-auth keys rotate    publish a new signing key; running replicas make it sign once
                             it has been published for two JWKS max-ages`

func keysCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "list" && args[0] != "rotate") {
		return errors.New(keysUsage)
	}
	cfg, pool, err := adminDB(ctx, getenv, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	km, err := keys.NewManager(postgres.New(pool), keyOptions(cfg, nil))
	if err != nil {
		return err
	}
	if err := km.Bootstrap(ctx); err != nil {
		return err
	}
	if args[0] == "rotate" {
		kid, at, err := km.RotateSoon(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "next key %s is published and signs from %s\n", kid, at.Format(time.RFC3339))
		return nil
	}
	list, err := km.ListSealed(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tCREATED\tSIGNS FROM\tRETIRED\tREMOVED AT")
	ts := func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range list {
		signs, removed := k.ActivatedAt, (*time.Time)(nil)
		if at, ok := km.ActivationTime(k); ok {
			signs = &at
		}
		if at, ok := km.RemovalTime(k); ok {
			removed = &at
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.State, ts(&k.CreatedAt), ts(signs), ts(k.RetiredAt), ts(removed))
	}
	return tw.Flush()
}
