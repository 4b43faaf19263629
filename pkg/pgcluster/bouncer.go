package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBouncer is returned when the pgbouncer binary cannot be found.
var ErrNoBouncer = errors.New("pgcluster: pgbouncer not found; install the pgbouncer package (Debian) or put it on PATH")

// BouncerOptions configures a PgBouncer in front of a cluster.
type BouncerOptions struct {
	// PoolSize is the number of server connections per database and user. Default 20.
	PoolSize int
	// Binary is the pgbouncer executable. Default: pgbouncer on PATH, or /usr/sbin/pgbouncer.
	Binary string
	// QueryWait is how long a query waits for a server connection before the bouncer fails
	// it (query_wait_timeout, whole seconds). Default 5 s: PgBouncer's own 120 s would hold
	// every request of a PostgreSQL outage for two minutes instead of answering 503.
	QueryWait time.Duration
}

// Bouncer is a running PgBouncer in transaction pooling mode, listening on loopback TCP and
// passing every database name through to its cluster as the superuser.
type Bouncer struct {
	Addr string // 127.0.0.1:port
	dir  string
	cmd  *exec.Cmd
	done chan error
}

// StartBouncer starts PgBouncer (transaction pooling) in front of c and waits until it
// answers a query. Close stops it.
//
// Through it, as through any transaction pooler, a client must not rely on session state:
// no prepared statements kept between transactions (pgx: default_query_exec_mode=cache_describe), no
// session advisory locks, no LISTEN, no SET outside a transaction.
func StartBouncer(ctx context.Context, c *Cluster, opts BouncerOptions) (*Bouncer, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("pgbouncer"); err != nil {
			bin = "/usr/sbin/pgbouncer"
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, ErrNoBouncer
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = 20
	}
	if opts.QueryWait <= 0 {
		opts.QueryWait = 5 * time.Second
	}
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	b := &Bouncer{Addr: addr, done: make(chan error, 1)}
	// PgBouncer refuses to run as root: it runs as the cluster's user, in a folder it owns.
	if b.dir, err = c.makeDir("bouncer-"); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`[databases]
* = host=%s port=5432 user=postgres

[pgbouncer]
listen_addr = %s
listen_port = %s
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = %d
max_client_conn = 5000
max_db_connections = 0
server_reset_query =
query_wait_timeout = %d
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
logfile = %s
pidfile = %s
`, c.socketDir, host, port, opts.PoolSize, max(1, int(opts.QueryWait.Seconds())), filepath.Join(b.dir, "pgbouncer.log"), filepath.Join(b.dir, "pgbouncer.pid"))
	confPath := filepath.Join(b.dir, "pgbouncer.ini")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		os.RemoveAll(b.dir)
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	cmd := exec.Command(bin, confPath)
	cmd.Dir = b.dir
	// The bouncer dies with its parent, so a killed test leaves nothing behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if c.runAs != "" {
		cred, err := credential(c.runAs)
		if err != nil {
			os.RemoveAll(b.dir)
			return nil, err
		}
		cmd.SysProcAttr.Credential = cred
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(b.dir)
		return nil, fmt.Errorf("pgcluster: start pgbouncer: %w", err)
	}
	b.cmd = cmd
	go func() { b.done <- cmd.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		err := b.ping(ctx)
		if err == nil {
			return b, nil
		}
		select {
		case werr := <-b.done:
			b.done <- werr
			log, _ := os.ReadFile(filepath.Join(b.dir, "pgbouncer.log"))
			os.RemoveAll(b.dir)
			return nil, fmt.Errorf("pgcluster: pgbouncer exited: %v\n%s", werr, tail(log, 2000))
		case <-ctx.Done():
			b.Close()
			return nil, fmt.Errorf("pgcluster: pgbouncer not ready: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Close()
			return nil, fmt.Errorf("pgcluster: pgbouncer not ready: %w", err)
		}
	}
}

// DSN is a connection string for database name through the bouncer, with pgx's statement
// cache off, as every pooled client of it needs: default_query_exec_mode=cache_describe keeps
// only the statements' parameter and result types on the client and sends each query as an
// unnamed statement, so it still knows that a []byte goes to a jsonb column (exec mode sends
// it as bytea text) and a uuid.UUID to a uuid one.
func (b *Bouncer) DSN(name string) string {
	q := url.Values{"sslmode": {"disable"}, "default_query_exec_mode": {"cache_describe"}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Host: b.Addr, Path: "/" + name, RawQuery: q.Encode()}).String()
}

// Close stops the bouncer and removes its folder.
func (b *Bouncer) Close() error {
	_ = b.cmd.Process.Signal(syscall.SIGINT) // SIGINT: shut down at once
	var err error
	select {
	case err = <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		err = <-b.done
	}
	os.RemoveAll(b.dir)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = nil // an exit status after a signal is the expected end
	}
	return err
}

func (b *Bouncer) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

func credential(username string) (*syscall.Credential, error) {
	u, err := user.Lookup(username)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root needs the %q user: %w", username, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
