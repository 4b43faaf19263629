package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

const adminUsersUsage = `  coffer-auth users list [--search TEXT]  list users (name, id, state, admin)
  coffer-auth users enable NAME           re-enable a disabled user
  coffer-auth users delete NAME           delete a user and their sessions; their files stay
                                          in the file service until an admin deletes them
                                          (DELETE /v1/admin/users/{id}/files there)
  coffer-auth users grant-admin NAME      give a user the admin role (from their next sign-in)
  coffer-auth users revoke-admin NAME     take the admin role away (at their next refresh)`

// adminUsersCmd runs the administration subcommands of `coffer-auth users`; handled is false
// for the others (usersCmd runs those).
func adminUsersCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (handled bool, err error) {
	if len(args) == 0 {
		return false, nil
	}
	sub := args[0]
	switch sub {
	case "list", "enable", "delete", "grant-admin", "revoke-admin":
	default:
		return false, nil
	}
	var name, search string
	if sub == "list" {
		fs := flag.NewFlagSet("users list", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.StringVar(&search, "search", "", "a part of the username")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			return true, errors.New(usersUsage + "\n" + adminUsersUsage)
		}
	} else {
		if len(args) != 2 {
			return true, errors.New(usersUsage + "\n" + adminUsersUsage)
		}
		name = args[1]
	}
	cfg, pool, err := adminDB(ctx, getenv, false)
	if err != nil {
		return true, err
	}
	defer pool.Close()
	svc := adminService(cfg, pool)
	if sub == "list" {
		return true, listUsers(ctx, svc, search, stdout)
	}
	u, err := svc.UserByName(ctx, name)
	if err != nil {
		return true, fmt.Errorf("user %s: %w", name, err)
	}
	actor := cliActor()
	switch sub {
	case "enable":
		err = svc.AdminSetUserDisabled(ctx, actor, u.ID, false)
		if err == nil {
			fmt.Fprintf(stdout, "user %s enabled\n", u.Username)
		}
	case "delete":
		err = svc.AdminDeleteUser(ctx, actor, u.ID)
		if err == nil {
			fmt.Fprintf(stdout, "user %s (%s) deleted with their sessions and refresh tokens; their files are kept by the file service until an admin deletes them there\n", u.Username, u.ID)
		}
	case "grant-admin", "revoke-admin":
		grant := sub == "grant-admin"
		err = svc.AdminSetAdmin(ctx, actor, u.ID, grant)
		if err == nil && grant {
			fmt.Fprintf(stdout, "user %s is an admin from their next sign-in or refresh\n", u.Username)
		} else if err == nil {
			fmt.Fprintf(stdout, "user %s is no longer an admin from their next refresh\n", u.Username)
		}
	}
	return true, err
}

func listUsers(ctx context.Context, svc *auth.Service, search string, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tID\tSTATE\tADMIN\tCREATED")
	after := ""
	for {
		page, err := svc.ListUsers(ctx, auth.UserQuery{Search: search, After: after})
		if err != nil {
			return err
		}
		for _, u := range page {
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", u.Username, u.ID, state, u.Admin, u.CreatedAt.UTC().Format(time.RFC3339))
		}
		if len(page) < auth.MaxUserPage {
			return tw.Flush()
		}
		after = page[len(page)-1].Username
	}
}

const adminClientsUsage = `  coffer-auth clients list                list clients
  coffer-auth clients disable ID          disable a client; revokes its refresh tokens
  coffer-auth clients enable ID           re-enable a client
  coffer-auth clients delete ID           delete a client and its refresh tokens
  coffer-auth clients rotate-secret ID    print a new secret; the old one stops at once`

// adminClientsCmd runs the administration subcommands of `coffer-auth clients`; handled is
// false for the others.
func adminClientsCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (handled bool, err error) {
	if len(args) == 0 {
		return false, nil
	}
	sub := args[0]
	switch sub {
	case "list", "disable", "enable", "delete", "rotate-secret":
	default:
		return false, nil
	}
	if (sub == "list") != (len(args) == 1) || len(args) > 2 {
		return true, errors.New(clientsUsage + "\n" + adminClientsUsage)
	}
	cfg, pool, err := adminDB(ctx, getenv, false)
	if err != nil {
		return true, err
	}
	defer pool.Close()
	svc := adminService(cfg, pool)
	actor := cliActor()
	switch sub {
	case "list":
		list, err := svc.ListClients(ctx)
		if err != nil {
			return true, err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tSTATE\tSCOPES\tADMIN ROLE\tREDIRECT URIS")
		for _, c := range list {
			kind, state := "confidential", "enabled"
			if c.Public() {
				kind = "public"
			}
			if c.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", c.ID, kind, state, strings.Join(c.Scopes, " "), c.AdminRole, strings.Join(c.RedirectURIs, " "))
		}
		return true, tw.Flush()
	case "disable", "enable":
		if err := svc.AdminSetClientDisabled(ctx, actor, args[1], sub == "disable"); err != nil {
			return true, err
		}
		fmt.Fprintf(stdout, "client %s %sd\n", args[1], sub)
	case "delete":
		if err := svc.AdminDeleteClient(ctx, actor, args[1]); err != nil {
			return true, err
		}
		fmt.Fprintf(stdout, "client %s deleted with its refresh tokens\n", args[1])
	case "rotate-secret":
		secret, err := svc.AdminRotateClientSecret(ctx, actor, args[1])
		if err != nil {
			return true, err
		}
		fmt.Fprintf(stdout, "client_secret: %s\n(store the secret now: it cannot be shown again; the old one no longer works)\n", secret)
	}
	return true, nil
}

// cliActor names who acts in the audit log when an admin command runs on the server's host.
func cliActor() auth.Actor { return auth.Actor{Kind: auth.ActorCLI, ID: "coffer-auth"} }
