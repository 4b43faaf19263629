// Command coffer-files is Coffer's file service: it stores and serves files for callers who
// present an access token from the auth service, verified statelessly against its JWK Set.
//
// Usage:
//
//	coffer-files [serve]    run the service (default)
//	coffer-files migrate    apply database migrations and exit
//	coffer-files gc         collect orphan blobs and interrupted uploads once, and exit
//	coffer-files webhooks   manage webhook subscriptions and failed deliveries
//	coffer-files fsck [--repair] [--verify-digests] [--rate 64M] [--metrics-file PATH]
//	                        check that rows and blobs agree; exit 0 clean, 1 repaired, 4 problems left, 8 failed
//	coffer-files version    print the release this binary was built from
//
// Configuration is read from COFFER_FILES_* environment variables; see config.go.
package main

import (
	"context"
	"errors"
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "coffer-files:", err)
		stop()
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		os.Exit(code)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, getenv, stderr)
	case "migrate":
		return migrateCmd(ctx, getenv, stdout)
	case "gc":
		return gcCmd(ctx, getenv, stdout, stderr)
	case "webhooks":
		return webhooksCmd(ctx, args, getenv, stdout)
	case "audit":
		return auditCmd(ctx, args, getenv, stdout)
	case "fsck":
		return fsckCmd(ctx, args, getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version.Line("coffer-files"))
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage:
  coffer-files [serve]    run the service
  coffer-files migrate    apply database migrations and exit
  coffer-files gc         collect orphan blobs and interrupted uploads once, and exit
  coffer-files webhooks   create|list|delete|failed|retry: webhook subscriptions and deliveries
  coffer-files fsck [--repair] [--verify-digests] [--rate 64M] [--metrics-file PATH]
                          check that every row has its blob (size, and SHA-256 with
                          --verify-digests) and list orphan blobs and expired uploads;
                          --repair marks rows whose bytes are gone and collects what is safe;
                          exit 0 clean, 1 all repaired, 4 problems left, 8 the check failed
  coffer-files version    print the release this binary was built from
  coffer-files audit verify|export   check the audit log's hash chain / print it as JSON lines
`
