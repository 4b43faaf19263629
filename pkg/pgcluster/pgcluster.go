// Package pgcluster starts and stops throwaway PostgreSQL clusters from the server binaries on
// this machine. Tests and `make run` use it so that nothing but the PostgreSQL server package is
// needed to run Coffer locally.
//
// initdb refuses to run as root, so when the caller is root every server command runs as the
// "postgres" user (through runuser) in folders that user owns. The cluster listens only on a
// Unix socket in its own folder, so any number of clusters can run side by side without ports.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoServer is returned when no PostgreSQL server binaries can be found.
var ErrNoServer = errors.New("pgcluster: PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package or set PG_BINDIR")

// Options configures a cluster. The zero value is a throwaway, unsafe-but-fast test cluster.
type Options struct {
	// BinDir holds initdb and pg_ctl. Default: $PG_BINDIR, the newest
	// /usr/lib/postgresql/*/bin, or the folder of initdb on $PATH.
	BinDir string
	// DataDir is the cluster's data folder. Default: a new temporary folder that Stop removes.
	// A DataDir that already holds a cluster is reused as it is.
	DataDir string
	// Durable keeps fsync on. Default off: test data is disposable and fsync is slow.
	Durable bool
	// Getenv reads the environment (for PG_BINDIR). Default: os.Getenv.
	Getenv func(string) string
	// Settings are extra server settings (name=value, each passed as -c), for example
	// "shared_preload_libraries=pg_stat_statements". A replica started from this cluster
	// gets them too.
	Settings []string
}

// Cluster is a running PostgreSQL server.
type Cluster struct {
	bin       string
	dataDir   string
	socketDir string
	ownsData  bool
	runAs     string // user to run server commands as; empty for the current user
	durable   bool
	settings  []string
}

// Start initialises (if needed) and starts a cluster. Call Stop to end it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	bin, err := findBinDir(opts.BinDir, getenv)
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, durable: opts.Durable, settings: opts.Settings}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
	}

	// The socket folder is always a short temporary path: Unix socket paths are limited to
	// about 100 bytes, and a checkout may sit deep in the tree.
	c.socketDir, err = c.makeDir("")
	if err != nil {
		return nil, err
	}
	c.dataDir = opts.DataDir
	if c.dataDir == "" {
		tmp, err := c.makeDir("")
		if err != nil {
			os.RemoveAll(c.socketDir)
			return nil, err
		}
		c.dataDir = filepath.Join(tmp, "data")
		c.ownsData = true
	} else {
		if c.dataDir, err = filepath.Abs(c.dataDir); err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}

	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err != nil {
		if err := c.initdb(ctx); err != nil {
			c.cleanup()
			return nil, err
		}
	}
	if err := c.StartServer(ctx); err != nil {
		c.cleanup()
		return nil, err
	}
	return c, nil
}

// DSN returns a connection string for database name as the superuser "postgres".
func (c *Cluster) DSN(name string) string {
	q := url.Values{"host": {c.socketDir}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + name, RawQuery: q.Encode()}).String()
}

// SocketDir is the folder of the server's Unix socket (its "host" in a connection string).
func (c *Cluster) SocketDir() string { return c.socketDir }

// DataDir is the cluster's data folder.
func (c *Cluster) DataDir() string { return c.dataDir }

// CreateDatabase creates database name if it does not exist.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	return nil
}

// StartServer starts the server of an initialised cluster and waits until it accepts
// connections. Fault tests use StopServer and StartServer to take the database away.
func (c *Cluster) StartServer(ctx context.Context) error {
	opts := "-k " + c.socketDir + " -c listen_addresses='' -c max_connections=200"
	if !c.durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	for _, kv := range c.settings {
		opts += " -c " + kv
	}
	logFile := filepath.Join(filepath.Dir(c.dataDir), "postgres.log")
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); err == nil {
		// A server left running by a killed parent: stop it so this start owns the cluster.
		_ = c.command(ctx, "pg_ctl", "stop", "-w", "-t", "30", "-m", "fast", "-D", c.dataDir)
	}
	if err := c.command(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir, "-l", logFile, "-o", opts); err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("pgcluster: start: %w\n%s", err, tail(log, 2000))
	}
	return nil
}

// StopServer stops the server (fast shutdown) but keeps its data.
func (c *Cluster) StopServer(ctx context.Context) error {
	if err := c.command(ctx, "pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", c.dataDir); err != nil {
		return fmt.Errorf("pgcluster: stop: %w", err)
	}
	return nil
}

// Stop stops the server and removes every folder Start created.
func (c *Cluster) Stop(ctx context.Context) error {
	err := c.StopServer(ctx)
	c.cleanup()
	return err
}

func (c *Cluster) cleanup() {
	if c.ownsData {
		os.RemoveAll(filepath.Dir(c.dataDir))
	}
	os.RemoveAll(c.socketDir)
}

func (c *Cluster) initdb(ctx context.Context) error {
	parent := filepath.Dir(c.dataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if c.runAs != "" {
		if err := chown(parent, c.runAs); err != nil {
			return err
		}
	}
	args := []string{"-D", c.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"}
	if !c.durable {
		args = append(args, "-N")
	}
	if err := c.command(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("pgcluster: initdb in %s (it must be reachable by the %q user through every parent folder): %w", c.dataDir, c.runAs, err)
	}
	return nil
}

// makeDir creates a fresh temporary folder owned by the server's user.
func (c *Cluster) makeDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", "coffer-pg-"+pattern)
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	if c.runAs != "" {
		if err := chown(dir, c.runAs); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) error {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = os.TempDir() // the postgres user may not be able to enter the caller's folder
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, tail(out.Bytes(), 2000))
	}
	return nil
}

func chown(path, username string) error {
	u, err := user.Lookup(username)
	if err != nil {
		return fmt.Errorf("pgcluster: running as root needs the %q user: %w", username, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

func findBinDir(dir string, getenv func(string) string) (string, error) {
	candidates := []string{dir, getenv("PG_BINDIR")}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) > pgVersion(matches[j]) })
	candidates = append(candidates, matches...)
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, d := range candidates {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoServer
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
