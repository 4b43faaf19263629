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
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/services/files/internal/clamd"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/queue"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

// newQueue builds the node's job queue: every node delivers webhooks, and scans when clamd
// is configured. It is the store's queue from now on, so every event it records is delivered.
func newQueue(cfg config, pool *pgxpool.Pool, db *postgres.DB, blobs files.BlobStore, reg prometheus.Registerer, logger *slog.Logger) (*queue.Queue, error) {
	guard := webhook.Guard{AllowLocal: cfg.Events.AllowLocal}
	deps := queue.Deps{
		Store:   db,
		Sender:  webhook.NewSender(guard.Client(cfg.Events.WebhookTimeout), nil),
		Blobs:   blobs,
		Metrics: queue.NewMetrics(reg, db),
		Logger:  logger,
	}
	if cfg.Events.ClamdAddr != "" {
		c, err := clamd.New(cfg.Events.ClamdAddr, cfg.Events.ScanTimeout)
		if err != nil {
			return nil, err
		}
		deps.Scanner = c
	}
	q, err := queue.New(pool, cfg.Events.queue(), deps)
	if err != nil {
		return nil, err
	}
	db.SetQueue(q)
	return q, nil
}

// migrateAll applies the service's migrations, then river's.
func migrateAll(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	n, err := postgres.Migrate(ctx, pool)
	if err != nil {
		return n, err
	}
	return n, queue.Migrate(ctx, pool)
}

const webhooksUsage = `usage:
  coffer-files webhooks create -url URL [-events file.created,share.created,...]
  coffer-files webhooks list
  coffer-files webhooks delete ID
  coffer-files webhooks failed [-limit N]     deliveries whose last attempt failed
  coffer-files webhooks retry DELIVERY_ID     run a failed delivery again now
`

var errWebhooksUsage = errors.New(strings.TrimSpace(webhooksUsage))

// webhooksCmd manages webhook subscriptions straight in the database, as the admin API does.
func webhooksCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errWebhooksUsage
	}
	cfg, err := loadConfig(getenv, os.ReadFile)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	db := postgres.New(pool)
	q, err := queue.New(pool, cfg.Events.queue(), queue.Deps{})
	if err != nil {
		return err
	}
	admin := webhook.NewAdmin(db, q, webhook.Guard{AllowLocal: cfg.Events.AllowLocal}, nil)
	sub, rest := args[0], args[1:]
	switch sub {
	case "create":
		fs := flag.NewFlagSet("webhooks create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		u := fs.String("url", "", "receiver URL")
		ev := fs.String("events", "", "comma-separated event types (default all)")
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("%w\n%s", err, webhooksUsage)
		}
		var types []string
		for _, t := range strings.Split(*ev, ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
		s, err := admin.Create(ctx, *u, types)
		if err != nil {
			return cliErr(err)
		}
		return json.NewEncoder(stdout).Encode(map[string]any{
			"id": s.ID, "url": s.URL, "event_types": s.EventTypes, "secret": s.Secret, "created_at": s.CreatedAt,
		})
	case "list":
		subs, err := admin.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tCREATED")
		for _, s := range subs {
			types := strings.Join(s.EventTypes, ",")
			if types == "" {
				types = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.URL, types, s.CreatedAt.Format("2006-01-02T15:04:05Z"))
		}
		return tw.Flush()
	case "delete":
		if len(rest) != 1 {
			return errWebhooksUsage
		}
		id, err := uuid.Parse(rest[0])
		if err != nil {
			return fmt.Errorf("%q is not a webhook id", rest[0])
		}
		if err := admin.Delete(ctx, id); err != nil {
			return cliErr(err)
		}
		fmt.Fprintln(stdout, "deleted", id)
		return nil
	case "failed":
		fs := flag.NewFlagSet("webhooks failed", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limit := fs.Int("limit", 100, "how many")
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("%w\n%s", err, webhooksUsage)
		}
		ds, err := admin.Failed(ctx, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DELIVERY\tEVENT\tWEBHOOK\tSTATE\tATTEMPTS\tLAST ERROR")
		for _, d := range ds {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d/%d\t%.120s\n", d.ID, d.EventID, d.SubscriptionID, d.State, d.Attempts, d.MaxAttempts, d.LastError)
		}
		return tw.Flush()
	case "retry":
		if len(rest) != 1 {
			return errWebhooksUsage
		}
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a delivery id", rest[0])
		}
		if err := admin.Retry(ctx, id); err != nil {
			return cliErr(err)
		}
		fmt.Fprintln(stdout, "retrying", id)
		return nil
	}
	return fmt.Errorf("unknown webhooks command %q\n%s", sub, webhooksUsage)
}

// cliErr turns a domain error into what a person at a terminal needs to read.
func cliErr(err error) error {
	var input *files.InputError
	switch {
	case errors.As(err, &input):
		return errors.New(input.Reason)
	case errors.Is(err, files.ErrNotFound):
		return errors.New("not found")
	}
	return err
}
