package e2e_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/pgcluster"
	"github.com/cofferhq/coffer/pkg/pgtest"
)

// With COFFER_E2E_PGBOUNCER set (make test-pgbouncer), the whole suite runs with both services
// reaching PostgreSQL through a PgBouncer in transaction pooling mode; the file service keeps
// a direct URL for its advisory locks and LISTEN.
var pgbouncer struct {
	cluster *pgcluster.Cluster
	bouncer *pgcluster.Bouncer
}

// runDatabases runs the tests against pgtest's server, behind PgBouncer when asked.
func runDatabases(m *testing.M) int {
	if os.Getenv("COFFER_E2E_PGBOUNCER") == "" {
		return pgtest.Run(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgbouncer run:", err)
		return 1
	}
	defer c.Stop(context.Background())
	b, err := pgcluster.StartBouncer(ctx, c, pgcluster.BouncerOptions{PoolSize: 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgbouncer run:", err)
		return 1
	}
	defer b.Close()
	pgbouncer.cluster, pgbouncer.bouncer = c, b
	os.Setenv("DATABASE_URL", c.DSN("postgres")) // pgtest's server: the one behind the bouncer
	return pgtest.Run(m)
}

// pooled returns the URL a service uses for dsn: through the bouncer when the suite runs
// behind one and dsn is on the server behind it, else dsn itself.
func pooled(dsn string) string {
	if pgbouncer.bouncer == nil {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Query().Get("host") != pgbouncer.cluster.SocketDir() {
		return dsn
	}
	return pgbouncer.bouncer.DSN(strings.TrimPrefix(u.Path, "/"))
}
