// Command coffer-web serves Coffer's single-page app from its own origin: the page a person
// uses to sign in (OAuth authorization code with PKCE at the auth service), upload (tus at the
// file service), list, download, share and link files. It holds no data and no secrets; it
// tells the page where the auth and file services are (/config.json) and sends the security
// headers that confine the page to them.
//
// Usage:
//
//	coffer-web [serve]    run the service (default)
//	coffer-web version    print the release this binary was built from
//
// Configuration is read from COFFER_WEB_* environment variables; see config.go.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cofferhq/coffer/pkg/serve"
	"github.com/cofferhq/coffer/pkg/version"
	"github.com/cofferhq/coffer/services/web/internal/assets"
	"github.com/cofferhq/coffer/services/web/internal/site"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "coffer-web:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
	case "version", "--version":
		fmt.Fprintln(stdout, version.Line("coffer-web"))
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "web")
	var ready serve.Readiness
	h, err := site.New(logger, assets.FS(), site.Config{
		AuthURL: cfg.AuthURL, FilesURL: cfg.FilesURL, ClientID: cfg.ClientID, Scope: cfg.Scope,
		Version: version.String(),
	}, ready.Ready)
	if err != nil {
		return err
	}
	return serve.Run(ctx, logger, h, &ready, serve.Options{
		Addr: cfg.Addr, DrainDelay: cfg.DrainDelay, ShutdownTimeout: cfg.ShutdownTimeout,
	})
}

const usage = `usage:
  coffer-web [serve]    serve the web app
  coffer-web version    print the release this binary was built from
`
