// Command coffer-dev runs Coffer on one machine for development: a throwaway PostgreSQL
// cluster under .run/ (unless DATABASE_URL names a server), the auth service and the file
// service, in the foreground. Ctrl-C or SIGTERM stops everything. `make run` calls it.
//
// Its settings for the services are defaults only: every COFFER_AUTH_*, COFFER_FILES_* and
// COFFER_WEB_* variable of its own environment reaches that service unchanged, and the summary
// it prints names the ones that overrode a default.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
	"github.com/cofferhq/coffer/pkg/pgcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "coffer-dev:", err)
		stop()
		os.Exit(1)
	}
}

// run takes the environment as a list rather than a getenv: the services' variables are
// passed on by prefix, so it must be able to enumerate them.
func run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	env := parseEnviron(environ)
	getenv := func(k string) string { return env[k] }
	fs := flag.NewFlagSet("coffer-dev", flag.ContinueOnError)
	runDir := fs.String("dir", ".run", "folder for the cluster, keys, files and binaries")
	authBin := fs.String("auth", ".run/bin/coffer-auth", "auth service binary")
	filesBin := fs.String("files", ".run/bin/coffer-files", "file service binary")
	webBin := fs.String("web", ".run/bin/coffer-web", "web page binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := filepath.Abs(*runDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	authAddr := envOr(getenv, "COFFER_AUTH_ADDR", "127.0.0.1:8081")
	filesAddr := envOr(getenv, "COFFER_FILES_ADDR", "127.0.0.1:8082")
	webAddr := envOr(getenv, "COFFER_WEB_ADDR", "127.0.0.1:8083")
	webURL := "http://" + webAddr

	authDB, filesDB := getenv("DATABASE_URL"), getenv("DATABASE_URL")
	if authDB == "" {
		cluster, err := startCluster(ctx, filepath.Join(dir, "pg", "data"), stderr)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := cluster.Stop(sctx); err != nil {
				fmt.Fprintln(stderr, "coffer-dev:", err)
			}
		}()
		for _, name := range []string{"coffer_auth", "coffer_files"} {
			if err := cluster.CreateDatabase(ctx, name); err != nil {
				return err
			}
		}
		authDB, filesDB = cluster.DSN("coffer_auth"), cluster.DSN("coffer_files")
	}

	kekFile := filepath.Join(dir, "kek")
	if err := ensureKEK(kekFile); err != nil {
		return err
	}
	linkKeyFile := filepath.Join(dir, "link-key") // 32 random bytes, like the KEK
	if err := ensureKEK(linkKeyFile); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "services.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()

	authURL := "http://" + authAddr
	authEnv := withOverrides(map[string]string{
		"COFFER_AUTH_ADDR":         authAddr,
		"COFFER_AUTH_DATABASE_URL": authDB,
		"COFFER_AUTH_ISSUER":       authURL,
		"COFFER_AUTH_KEK_FILE":     kekFile,
		"COFFER_AUTH_SIGNUP":       "true",
	}, "COFFER_AUTH_", env)
	auth, err := harness.Start(harness.Spec{
		Name: "auth", Bin: *authBin, Addr: authAddr, Log: logFile, Env: harness.Env(authEnv.vars),
	})
	if err != nil {
		return err
	}
	defer auth.Stop(30 * time.Second)
	filesEnv := withOverrides(map[string]string{
		"COFFER_FILES_ADDR":          filesAddr,
		"COFFER_FILES_DATABASE_URL":  filesDB,
		"COFFER_FILES_AUTH_URL":      authURL,
		"COFFER_FILES_DATA_DIR":      filepath.Join(dir, "files"),
		"COFFER_FILES_LINK_KEY_FILE": linkKeyFile,
		"COFFER_FILES_CORS_ORIGINS":  webURL,
	}, "COFFER_FILES_", env)
	filesProc, err := harness.Start(harness.Spec{
		Name: "files", Bin: *filesBin, Addr: filesAddr, Log: logFile, Env: harness.Env(filesEnv.vars),
	})
	if err != nil {
		return err
	}
	defer filesProc.Stop(30 * time.Second)
	webEnv := withOverrides(map[string]string{
		"COFFER_WEB_ADDR":      webAddr,
		"COFFER_WEB_AUTH_URL":  authURL,
		"COFFER_WEB_FILES_URL": "http://" + filesAddr,
		"COFFER_WEB_CLIENT_ID": "coffer-web",
	}, "COFFER_WEB_", env)
	web, err := harness.Start(harness.Spec{
		Name: "web", Bin: *webBin, Addr: webAddr, Log: logFile, Env: harness.Env(webEnv.vars),
	})
	if err != nil {
		return err
	}
	defer web.Stop(30 * time.Second)

	readyCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, p := range []struct {
		what string
		proc *harness.Process
	}{{"auth service", auth}, {"file service", filesProc}, {"web service", web}} {
		if err := p.proc.WaitReady(readyCtx, "/readyz"); err != nil {
			select {
			case <-p.proc.Done():
				return stopped(p.what, p.proc)
			default:
				return err
			}
		}
	}
	if err := registerWebClient(ctx, *authBin, authEnv.vars["COFFER_AUTH_DATABASE_URL"], authEnv.vars["COFFER_AUTH_KEK_FILE"], webURL); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Coffer is running (logs: %s)\n  web:   %s\n  auth:  %s\n  files: %s\n",
		logFile.Name(), web.URL, auth.URL, filesProc.URL)
	printListeners(stdout, authEnv.vars, filesEnv.vars, webEnv.vars)
	printOverrides(stdout, authEnv, filesEnv, webEnv)
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\nstopping")
		return nil
	case <-auth.Done():
		return stopped("auth service", auth)
	case <-filesProc.Done():
		return stopped("file service", filesProc)
	case <-web.Done():
		return stopped("web service", web)
	}
}

// registerWebClient registers the web page as a public OAuth client, once: a client from an
// earlier run is kept.
func registerWebClient(ctx context.Context, authBin, authDB, kekFile, webURL string) error {
	cmd := exec.CommandContext(ctx, authBin, "clients", "create", "coffer-web", "--public",
		"--scopes", "files:read files:write files:share",
		"--redirect-uri", webURL+"/callback "+webURL+"/signed-out", "--origin", webURL)
	cmd.Env = []string{"COFFER_AUTH_DATABASE_URL=" + authDB, "COFFER_AUTH_KEK_FILE=" + kekFile}
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "exists") {
		return fmt.Errorf("register the web client: %w\n%s", err, out)
	}
	return nil
}

// startCluster starts the cluster in dataDir, or, when the postgres user cannot reach that
// folder (a checkout under a root-only home), in a temporary folder.
func startCluster(ctx context.Context, dataDir string, stderr io.Writer) (*pgcluster.Cluster, error) {
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dataDir, Durable: true})
	if err == nil {
		return c, nil
	}
	if errors.Is(err, pgcluster.ErrNoServer) {
		return nil, err
	}
	fmt.Fprintf(stderr, "coffer-dev: cannot use %s (%v); using a temporary cluster instead\n", dataDir, firstLine(err))
	return pgcluster.Start(ctx, pgcluster.Options{})
}

func ensureKEK(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k[:])+"\n"), 0o600)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func firstLine(err error) string {
	s := err.Error()
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
