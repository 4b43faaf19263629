// Command coffer-auth is Coffer's auth service: it signs users and service clients in and
// issues RS256 access tokens that any party can verify from its JWK Set.
//
// Usage:
//
//	coffer-auth [serve]                 run the service (default)
//	coffer-auth migrate                 apply database migrations and exit
//	coffer-auth users create NAME       create a user; the password is read from stdin
//	coffer-auth users passwd NAME       set a user's password (stdin); ends their sessions
//	coffer-auth users disable NAME      disable a user; ends their sessions
//	coffer-auth clients create ID --scopes "files:read ..." [--public] [--redirect-uri URI]... [--origin O]...
//	                                    register a client (service, confidential or public
//	                                    app); prints a confidential client's secret once
//	coffer-auth keys list               list signing keys with their states and times
//	coffer-auth keys rotate             publish a new key; it signs once verifiers have it
//	coffer-auth invitations create [--username NAME] [--ttl D]
//	                                    print a one-time link that creates an account
//	coffer-auth invitations reset NAME  clear a password, end the user's sign-ins, print a
//	                                    one-time link where they set a new one
//	coffer-auth version                 print the release this binary was built from
//
// Configuration is read from COFFER_AUTH_* environment variables; see config.go.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/version"
)

func main() {
	// Gin's mode is process-wide state, so the process sets it, once: release mode keeps its
	// debug route listing and warnings off stdout. (Under go test gin starts in test mode.)
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "coffer-auth:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, getenv, stderr)
	case "migrate":
		return migrateCmd(ctx, getenv, stdout, stderr)
	case "users":
		return usersCmd(ctx, args, getenv, stdin, stdout)
	case "clients":
		return clientsCmd(ctx, args, getenv, stdout, stderr)
	case "keys":
		return keysCmd(ctx, args, getenv, stdout)
	case "audit":
		return auditCmd(ctx, args, getenv, stdout)
	case "invitations":
		return invitationsCmd(ctx, args, getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version.Line("coffer-auth"))
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage:
  coffer-auth [serve]              run the service
  coffer-auth migrate              apply database migrations and exit
  coffer-auth users create NAME    create a user (password on stdin)
  coffer-auth users passwd NAME    set a user's password (on stdin); ends their sessions
  coffer-auth users disable NAME   disable a user; ends their sessions
  coffer-auth clients create ID --scopes "files:read files:write" [--public]
        [--redirect-uri URI]... [--origin ORIGIN]...
                                   register a client; prints a confidential one's secret once
  coffer-auth keys list            list signing keys with their states and times
  coffer-auth keys rotate          publish a new key; it signs once verifiers have it
  coffer-auth users list|enable|delete|grant-admin|revoke-admin ...
  coffer-auth clients list|disable|enable|delete|rotate-secret ...
  coffer-auth audit verify         check the audit log's hash chain; names a tampered row
  coffer-auth audit export [--action PREFIX] [--actor ID] [--target ID]
                                   print audit records as JSON lines
  coffer-auth invitations create [--username NAME] [--ttl 168h]
                                   print a one-time link that creates an account
  coffer-auth invitations reset NAME [--ttl 168h]
                                   clear NAME's password, end their sign-ins, print a
                                   one-time link where they set a new one
  coffer-auth version              print the release this binary was built from
`
