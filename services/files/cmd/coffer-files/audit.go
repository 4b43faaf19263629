package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/auditlog"
	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
)

// auditTable is the file service's audit log (migration 0011).
const auditTable = "file_audit_log"

func auditStore(pool *pgxpool.Pool) *auditpg.Store {
	s, err := auditpg.New(pool, auditTable)
	if err != nil {
		panic(err) // a constant table name: unreachable
	}
	return s
}

const auditUsage = `usage:
  coffer-files audit verify     check the hash chain; exits non-zero naming the first bad row
  coffer-files audit export [--action PREFIX] [--actor ID] [--target ID] [--since RFC3339]
                                print records as JSON lines`

func auditCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return errors.New(auditUsage)
	}
	var q auditpg.Query
	if args[0] == "export" {
		fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.StringVar(&q.Action, "action", "", "action prefix")
		fs.StringVar(&q.Actor, "actor", "", "actor")
		fs.StringVar(&q.Target, "target", "", "target")
		since := fs.String("since", "", "RFC 3339 time")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			return errors.New(auditUsage)
		}
		if *since != "" {
			t, err := time.Parse(time.RFC3339, *since)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			q.Since = t
		}
	} else if len(args) != 1 {
		return errors.New(auditUsage)
	}
	cfg, err := loadConfig(getenv, os.ReadFile)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	pool, err := pgxpool.New(ctx, cfg.DirectURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	store := auditStore(pool)
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

// pruneAudit deletes audit records older than retention (0: keep for ever) once an hour.
func pruneAudit(ctx context.Context, logger *slog.Logger, store *auditpg.Store, retention time.Duration) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := store.Prune(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			logger.Warn("prune audit log", "err", err)
		} else if n > 0 {
			logger.Info("pruned audit log", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
