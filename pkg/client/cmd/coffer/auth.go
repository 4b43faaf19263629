package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cofferhq/coffer/pkg/client"
)

func (a *app) signupCommand() *cobra.Command {
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "signup USERNAME",
		Short: "Create an account (then run coffer login)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.newClient()
			if err != nil {
				return err
			}
			pw, err := a.secret("Password", pwStdin, true)
			if err != nil {
				return err
			}
			u, err := c.SignUp(cmd.Context(), args[0], pw)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(u)
			}
			fprintf(a.stdout, "created %s (id %s); now run: coffer login %s\n", u.Username, u.ID, u.Username)
			return nil
		},
	}
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func (a *app) loginCommand() *cobra.Command {
	var (
		pwStdin  bool
		clientID string
		scope    string
	)
	cmd := &cobra.Command{
		Use:   "login [USERNAME]",
		Short: "Sign in and store the session (or --client-id for a machine)",
		Long: "Sign in with a username and password, prompted for without echo (or read from\n" +
			"stdin with --password-stdin), or as a service client with --client-id (its secret\n" +
			"read the same way). The session is stored in the config folder with mode 0600\n" +
			"and refreshed automatically.",
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.loadSession()
			if err != nil {
				return err
			}
			files, auth := a.servers(s)
			ns := session{FilesURL: files, AuthURL: auth}
			if scope == "" && clientID == "" {
				scope = client.AllScopes
			}
			c, err := client.New(client.Options{FilesURL: files, AuthURL: auth, Scope: scope})
			if err != nil {
				return usagef("%v", err)
			}
			// Before a password is sent anywhere: are these Coffer's services?
			check := func() error { return c.CheckServices(cmd.Context()) }
			var tok client.Token
			if clientID != "" {
				if len(args) > 0 {
					return usagef("login: give a USERNAME or --client-id, not both")
				}
				secret, err := a.secret("Client secret", pwStdin, false)
				if err != nil {
					return err
				}
				if err := check(); err != nil {
					return err
				}
				if tok, err = c.ClientCredentials(cmd.Context(), clientID, secret); err != nil {
					return err
				}
				ns.ClientID, ns.ClientSecret = clientID, secret
			} else {
				user := ""
				if len(args) > 0 {
					user = args[0]
				} else if user, err = a.prompt("Username: "); err != nil {
					return err
				}
				pw, err := a.secret("Password", pwStdin, false)
				if err != nil {
					return err
				}
				if err := check(); err != nil {
					return err
				}
				if tok, err = c.Login(cmd.Context(), user, pw); err != nil {
					return err
				}
				ns.Username = strings.ToLower(user)
			}
			ns.setToken(tok)
			if err := a.saveSession(ns); err != nil {
				return fmt.Errorf("logged in, but the session cannot be saved: %w", err)
			}
			who := describe(ns)
			if a.json {
				return a.printJSON(who)
			}
			fprintf(a.stdout, "logged in as %s at %s (scope %s)\n", who.Name, files, tok.Scope)
			return nil
		},
	}
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password (or client secret) from the first line of stdin")
	cmd.Flags().StringVar(&clientID, "client-id", "", "log in as this service client (client credentials grant)")
	cmd.Flags().StringVar(&scope, "scope", "", "space-separated scopes to ask for (default: all a user may hold)")
	return cmd
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the session's refresh token and forget the session",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, s, err := a.newClient()
			if err != nil {
				return err
			}
			if s.AccessToken == "" && s.ClientID == "" {
				fprintf(a.stderr, "not logged in\n")
				return nil
			}
			if err := c.Logout(cmd.Context()); err != nil {
				return fmt.Errorf("the session could not be revoked, so it is kept: %w", err)
			}
			p, err := a.configFile("credentials.json")
			if err != nil {
				return err
			}
			if err := os.Remove(p); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]bool{"logged_out": true})
			}
			fprintf(a.stdout, "logged out\n")
			return nil
		},
	}
}

// identity is what whoami shows.
type identity struct {
	Name      string    `json:"name"`
	Username  string    `json:"username,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
	Scope     string    `json:"scope"`
	Server    string    `json:"server"`
	Auth      string    `json:"auth_server"`
	ExpiresAt time.Time `json:"access_token_expires_at,omitzero"`
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who is logged in, with which scopes, on which servers",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, s, err := a.loggedIn()
			if err != nil {
				return err
			}
			s.FilesURL, s.AuthURL = a.servers(s)
			who := describe(s)
			if a.json {
				return a.printJSON(who)
			}
			fprintf(a.stdout, "%s\nuser id:  %s\nscope:    %s\nserver:   %s\nauth:     %s\n", who.Name, who.UserID, who.Scope, who.Server, who.Auth)
			return nil
		},
	}
}

// describe reads the session's access token claims (not verified: they only label the
// session; the services verify the token).
func describe(s session) identity {
	id := identity{Username: s.Username, ClientID: s.ClientID, Scope: s.Scope, Server: s.FilesURL, Auth: s.AuthURL, ExpiresAt: s.Expiry}
	var claims struct {
		Sub   string `json:"sub"`
		Scope string `json:"scope"`
	}
	if parts := strings.Split(s.AccessToken, "."); len(parts) == 3 {
		if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			_ = json.Unmarshal(b, &claims)
		}
	}
	id.UserID = claims.Sub
	if id.Scope == "" {
		id.Scope = claims.Scope
	}
	id.Name = first(s.Username, s.ClientID, claims.Sub)
	return id
}

// prompt reads one line from stdin after showing label on stderr.
func (a *app) prompt(label string) (string, error) {
	if terminal(a.stdin) {
		fprintf(a.stderr, "%s", label)
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", usagef("no %s given", strings.TrimSuffix(strings.ToLower(label), ": "))
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// secret reads a password: from the first line of stdin with fromStdin, else from the
// terminal without echo (twice when confirm is set).
func (a *app) secret(label string, fromStdin, confirm bool) (string, error) {
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(a.stdin, 4096))
		if err != nil {
			return "", err
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		pw = strings.TrimRight(pw, "\r")
		if pw == "" {
			return "", usagef("--password-stdin: stdin is empty")
		}
		return pw, nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("no terminal to ask for the %s; use --password-stdin", strings.ToLower(label))
	}
	read := func(l string) (string, error) {
		fprintf(a.stderr, "%s: ", l)
		b, err := term.ReadPassword(int(f.Fd()))
		fprintf(a.stderr, "\n")
		return string(b), err
	}
	pw, err := read(label)
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := read("Again")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", usagef("the passwords differ")
		}
	}
	return pw, nil
}
