package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cofferhq/coffer/pkg/client"
)

// app is one run of the command: its environment, streams and global flags.
type app struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	filesURL, authURL string // --server, --auth-server
	json              bool   // --json
	quiet             bool   // --quiet: no progress
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "coffer",
		Short: "Send, fetch and share files on a Coffer server",
		Long: "coffer talks to a Coffer file service and its auth service.\n\n" +
			"Servers: --server (COFFER_SERVER, default " + defaultFilesURL + ") and --auth-server\n" +
			"(COFFER_AUTH_SERVER, default " + defaultAuthURL + "); login remembers them.\n\n" +
			"Exit codes: 0 ok, 1 failure, 2 usage, 3 authentication, 4 not found, 5 network.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&a.filesURL, "server", "", "file service URL (env COFFER_SERVER)")
	f.StringVar(&a.authURL, "auth-server", "", "auth service URL (env COFFER_AUTH_SERVER)")
	f.BoolVar(&a.json, "json", false, "print results (and errors, on stderr) as JSON")
	f.BoolVarP(&a.quiet, "quiet", "q", false, "no progress output")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	root.AddCommand(a.signupCommand(), a.loginCommand(), a.logoutCommand(), a.whoamiCommand(),
		a.putCommand(), a.getCommand(), a.lsCommand(), a.rmCommand(),
		a.shareCommand(), a.unshareCommand(), a.linkCommand(),
		a.linksCommand(), a.sharesCommand(), a.requestCommand())
	return root
}

// exactArgs and minArgs are cobra's validators, with their complaint as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{cmd.CommandPath() + ": " + err.Error()}
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return &usageError{cmd.CommandPath() + ": " + err.Error()}
		}
		return nil
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.RangeArgs(lo, hi)(cmd, args); err != nil {
			return &usageError{cmd.CommandPath() + ": " + err.Error()}
		}
		return nil
	}
}

// servers resolves the service URLs: flag, then environment, then the stored session, then
// the defaults.
func (a *app) servers(s session) (files, auth string) {
	files = first(a.filesURL, a.getenv("COFFER_SERVER"), s.FilesURL, defaultFilesURL)
	auth = first(a.authURL, a.getenv("COFFER_AUTH_SERVER"), s.AuthURL, defaultAuthURL)
	return files, auth
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// newClient builds a client from the stored session, saving every refreshed token.
func (a *app) newClient() (*client.Client, session, error) {
	s, err := a.loadSession()
	if err != nil {
		return nil, s, err
	}
	files, auth := a.servers(s)
	var saveErr error
	c, err := client.New(client.Options{
		FilesURL: files, AuthURL: auth, Token: s.token(),
		ClientID: s.ClientID, ClientSecret: s.ClientSecret, Scope: s.Scope,
		Renew: a.renewShared,
		OnToken: func(t client.Token) {
			s.setToken(t)
			if err := a.saveSession(s); err != nil && saveErr == nil {
				saveErr = err
				fprintf(a.stderr, "coffer: cannot save the refreshed session: %v\n", err)
			}
		},
	})
	if err != nil {
		return nil, s, usagef("%v", err)
	}
	return c, s, nil
}

// renewShared renews the session under a lock on credentials.lock, so coffer processes
// running side by side spend the refresh token once: the first renews and saves, the others
// find its token on disk and use it.
func (a *app) renewShared(ctx context.Context, cur client.Token, renew func(context.Context, client.Token) (client.Token, error)) (client.Token, error) {
	p, err := a.configFile("credentials.lock")
	if err != nil {
		return renew(ctx, cur)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return client.Token{}, err
	}
	lf, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return client.Token{}, err
	}
	defer lf.Close()
	if err := lockFile(lf); err != nil {
		return client.Token{}, err
	}
	defer unlockFile(lf)
	s, err := a.loadSession()
	if err != nil {
		return client.Token{}, err
	}
	if s.AccessToken != "" && s.AccessToken != cur.AccessToken && time.Until(s.Expiry) > time.Minute {
		return s.token(), nil // another process renewed it
	}
	from := cur
	if s.RefreshToken != "" {
		from = s.token() // the freshest refresh token
	}
	tok, err := renew(ctx, from)
	if err != nil {
		return client.Token{}, err
	}
	if tok.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = from.RefreshToken
	}
	s.setToken(tok)
	if err := a.saveSession(s); err != nil {
		fprintf(a.stderr, "coffer: cannot save the refreshed session: %v\n", err)
	}
	return tok, nil
}

// loggedIn builds a client and requires a stored session.
func (a *app) loggedIn() (*client.Client, session, error) {
	c, s, err := a.newClient()
	if err == nil && s.AccessToken == "" && s.ClientID == "" {
		err = &client.Error{Problem: client.Problem{Status: 401, Code: "not_logged_in", Detail: "not logged in"}}
	}
	return c, s, err
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// terminal reports whether w is a terminal.
func terminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// showProgress reports whether progress bars go to stdout.
func (a *app) showProgress() bool { return !a.quiet && !a.json && terminal(a.stdout) }
