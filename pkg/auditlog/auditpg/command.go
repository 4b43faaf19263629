package auditpg

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/auditlog"
)

// Usage is the help text of the audit subcommand of the service named prog.
func Usage(prog string) string {
	return "usage:\n" +
		"  " + prog + " audit verify     check the hash chain; exits non-zero naming the first bad row\n" +
		"  " + prog + " audit export [--action PREFIX] [--actor ID] [--target ID] [--since RFC3339]\n" +
		strings.Repeat(" ", len(prog)+20) + "print records as JSON lines"
}

// Command runs a service's "audit" subcommand on table: "verify" checks the hash chain and
// fails naming the first bad row; "export" prints the records, filtered, as JSON lines. Both
// services' command lines call it, so they answer alike. connect opens the database and is
// called only once the arguments are valid; Command closes the pool it returns.
func Command(ctx context.Context, prog, table string, args []string, connect func(context.Context) (*pgxpool.Pool, error), stdout io.Writer) error {
	usage := errors.New(Usage(prog))
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return usage
	}
	var q Query
	if args[0] == "export" {
		fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.StringVar(&q.Action, "action", "", "action prefix")
		fs.StringVar(&q.Actor, "actor", "", "actor")
		fs.StringVar(&q.Target, "target", "", "target")
		since := fs.String("since", "", "RFC 3339 time")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			return usage
		}
		if *since != "" {
			t, err := time.Parse(time.RFC3339, *since)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			q.Since = t
		}
	} else if len(args) != 1 {
		return usage
	}
	pool, err := connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := New(pool, table)
	if err != nil {
		return err
	}
	if args[0] == "export" {
		enc := json.NewEncoder(stdout)
		return store.Each(ctx, q, func(r auditlog.Record) error { return enc.Encode(auditlog.JSON(r)) })
	}
	n, head, err := store.Verify(ctx)
	if err != nil {
		return fmt.Errorf("audit verify: %d row(s) good before the failure: %w", n, err)
	}
	if head == nil {
		fmt.Fprintln(stdout, "audit log empty")
		return nil
	}
	fmt.Fprintf(stdout, "audit log intact: %d row(s); head seq %d hash %x\n", n, head.Seq, head.Hash)
	return nil
}

// PruneEvery deletes records older than retention (0: keep for ever) at once and then every
// interval, until ctx ends. Failures are logged and retried at the next tick.
func (s *Store) PruneEvery(ctx context.Context, logger *slog.Logger, retention, interval time.Duration) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Prune(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			logger.Warn("prune audit log", "table", s.table, "err", err)
		} else if n > 0 {
			logger.Info("pruned audit log", "table", s.table, "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
