// Package queue runs the file service's background jobs on river, a PostgreSQL job queue for
// Go: fanning each recorded event out to the webhooks that want it, delivering it, and
// scanning new files. Jobs are inserted in the transaction of the change that asks for them,
// every file node works them, and river's row locks (FOR UPDATE SKIP LOCKED) let exactly one
// node hold a job at a time; a job held by a node that died is rescued after RescueAfter.
package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

// RiverSchemaVersion pins river's own migrations. River's later migrations may change its
// tables in ways the previous release's nodes cannot run against; raising this is a decision,
// taken with a rolling-upgrade test, never a side effect of a dependency bump.
const RiverSchemaVersion = 8

// Migrate brings river's tables to RiverSchemaVersion (creating them the first time). Like
// the service's own migrations it is idempotent and safe to run from every node at once
// (river takes its own lock).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{TargetVersion: RiverSchemaVersion}); err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	return nil
}

// Config holds the queue's settings. DefaultConfig holds their defaults.
type Config struct {
	// Workers is how many jobs of each kind a node works at once.
	Workers int
	// DeliveryTimeout bounds one webhook request.
	DeliveryTimeout time.Duration
	// RetryBase and RetryMax shape a failed delivery's backoff: RetryBase·2^n, at most
	// RetryMax, with jitter. RetryFor is how long a delivery keeps being retried at least.
	RetryBase, RetryMax, RetryFor time.Duration
	// ScanRetryMax caps the backoff of a scan that could not run (scanner down); scans are
	// retried for as long as it takes.
	ScanRetryMax time.Duration
	// ScanTimeout bounds one scan.
	ScanTimeout time.Duration
	// RescueAfter is when a job left running by a node that died is run again.
	RescueAfter time.Duration
}

// DefaultConfig is the queue's settings unless configured otherwise.
func DefaultConfig() Config {
	return Config{
		Workers: 10, DeliveryTimeout: 10 * time.Second,
		RetryBase: 10 * time.Second, RetryMax: time.Hour, RetryFor: 25 * time.Hour,
		ScanRetryMax: time.Minute, ScanTimeout: 30 * time.Minute, RescueAfter: time.Hour,
	}
}

// Store is what the workers read and change (package postgres).
type Store interface {
	EventByID(ctx context.Context, id uuid.UUID) (files.Event, error)
	Subscriptions(ctx context.Context) ([]webhook.Subscription, error)
	SubscriptionByID(ctx context.Context, id uuid.UUID) (webhook.Subscription, error)
	FileForScan(ctx context.Context, id uuid.UUID) (files.File, error)
	MarkAvailable(ctx context.Context, id uuid.UUID) (bool, error)
	RejectFile(ctx context.Context, id uuid.UUID, reason string) (files.File, bool, error)
}

// Scanner judges a file's bytes (package clamd).
type Scanner interface {
	// Scan reads r to its end and returns the name of what it found, "" when clean. An
	// error means no verdict (the scanner is unreachable): the scan is retried later.
	Scan(ctx context.Context, r io.Reader) (found string, err error)
}

// Deps are the workers' dependencies. A nil Sender works no deliveries and a nil Scanner
// no scans (such jobs wait); Deps{} makes a client that only inserts and inspects jobs.
type Deps struct {
	Store   Store
	Sender  *webhook.Sender
	Scanner Scanner
	Blobs   files.BlobStore
	Metrics *Metrics
	Logger  *slog.Logger
}

// Queue is a river client.
type Queue struct {
	client  *river.Client[pgx.Tx]
	cfg     Config
	working bool
}

// New makes a queue on pool. Start runs its workers.
func New(pool *pgxpool.Pool, cfg Config, deps Deps) (*Queue, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics(nil)
	}
	rc := &river.Config{
		Logger:               deps.Logger.With("component", "queue"),
		RescueStuckJobsAfter: cfg.RescueAfter,
		JobTimeout:           cfg.DeliveryTimeout + 5*time.Second,
	}
	q := &Queue{cfg: cfg}
	if deps.Store != nil {
		workers := river.NewWorkers()
		queues := map[string]river.QueueConfig{}
		if deps.Sender != nil {
			river.AddWorker(workers, &fanoutWorker{q: q, store: deps.Store})
			river.AddWorker(workers, &deliveryWorker{cfg: cfg, store: deps.Store, sender: deps.Sender, metrics: deps.Metrics, logger: deps.Logger})
			queues[queueEvents] = river.QueueConfig{MaxWorkers: cfg.Workers}
		}
		if deps.Scanner != nil {
			river.AddWorker(workers, &scanWorker{cfg: cfg, store: deps.Store, scanner: deps.Scanner, blobs: deps.Blobs, metrics: deps.Metrics, logger: deps.Logger})
			queues[queueScans] = river.QueueConfig{MaxWorkers: max(1, cfg.Workers/4)}
		}
		if len(queues) > 0 {
			rc.Workers, rc.Queues = workers, queues
			q.working = true
		}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client = c
	return q, nil
}

// Run works jobs until ctx ends, then stops, letting running jobs finish for a while.
func (q *Queue) Run(ctx context.Context) error {
	if !q.working {
		<-ctx.Done()
		return nil
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("queue: start: %w", err)
	}
	<-ctx.Done()
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := q.client.Stop(stop); err != nil {
		return q.client.StopAndCancel(stop)
	}
	return nil
}

const (
	queueEvents = "events"
	queueScans  = "scans"
)

// fanoutArgs asks for one event to be delivered to every subscription that wants it.
type fanoutArgs struct {
	EventID uuid.UUID `json:"event_id"`
}

func (fanoutArgs) Kind() string { return "event_fanout" }

// deliveryArgs is one event's delivery to one subscription.
type deliveryArgs struct {
	EventID        uuid.UUID `json:"event_id"`
	SubscriptionID uuid.UUID `json:"subscription_id"`
}

func (deliveryArgs) Kind() string { return "webhook_delivery" }

// scanArgs asks for a file to be scanned.
type scanArgs struct {
	FileID uuid.UUID `json:"file_id"`
}

func (scanArgs) Kind() string { return "file_scan" }

// EnqueueEvent implements postgres.JobQueue.
func (q *Queue) EnqueueEvent(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	_, err := q.client.InsertTx(ctx, tx, fanoutArgs{EventID: id}, &river.InsertOpts{Queue: queueEvents, MaxAttempts: 1000})
	return err
}

// EnqueueScan implements postgres.JobQueue.
func (q *Queue) EnqueueScan(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	_, err := q.client.InsertTx(ctx, tx, scanArgs{FileID: id}, &river.InsertOpts{Queue: queueScans, MaxAttempts: maxAttempts})
	return err
}

// backoff is base·2^n capped at max, then scaled by a random factor in [0.5, 1): full
// exponential growth with jitter so that receivers that fail together are not retried
// together.
func backoff(base, maxDelay time.Duration, n int) time.Duration {
	d := maxDelay
	if n < 40 {
		d = min(maxDelay, base<<n)
	}
	if d <= 0 {
		d = maxDelay
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()/2))
}

// attemptsFor is how many attempts keep a delivery going for at least window, counting each
// wait at its shortest (half of backoff's bound).
func attemptsFor(base, maxDelay, window time.Duration) int {
	var total time.Duration
	n := 1
	for ; total < window && n < maxAttempts; n++ {
		d := maxDelay
		if n-1 < 40 {
			d = min(maxDelay, base<<(n-1))
		}
		total += d / 2
	}
	return n
}

// maxAttempts is the most attempts river records (a smallint): scans retry at most this often.
const maxAttempts = 30000

// fanoutWorker turns one event into one delivery job per subscription that wants it.
type fanoutWorker struct {
	river.WorkerDefaults[fanoutArgs]
	q     *Queue
	store Store
}

func (w *fanoutWorker) Work(ctx context.Context, job *river.Job[fanoutArgs]) error {
	e, err := w.store.EventByID(ctx, job.Args.EventID)
	if errors.Is(err, files.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	subs, err := w.store.Subscriptions(ctx)
	if err != nil {
		return err
	}
	var params []river.InsertManyParams
	attempts := attemptsFor(w.q.cfg.RetryBase, w.q.cfg.RetryMax, w.q.cfg.RetryFor)
	for _, s := range subs {
		if !s.Wants(e.Type) || s.CreatedAt.After(e.Time) {
			continue
		}
		params = append(params, river.InsertManyParams{
			Args: deliveryArgs{EventID: e.ID, SubscriptionID: s.ID},
			// Unique by event and subscription: a fanout run again (its node died after
			// inserting) adds no second delivery.
			InsertOpts: &river.InsertOpts{Queue: queueEvents, MaxAttempts: attempts, UniqueOpts: river.UniqueOpts{ByArgs: true}},
		})
	}
	if len(params) == 0 {
		return nil
	}
	_, err = w.q.client.InsertMany(ctx, params)
	return err
}

func (w *fanoutWorker) NextRetry(job *river.Job[fanoutArgs]) time.Time {
	return time.Now().Add(backoff(time.Second, time.Minute, len(job.Errors)))
}

// FailedDeliveries implements webhook.Deliveries: deliveries waiting for a retry after a
// failure, and those that gave up.
func (q *Queue) FailedDeliveries(ctx context.Context, limit int) ([]webhook.Delivery, error) {
	res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(deliveryArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStateRunning, rivertype.JobStateDiscarded).
		// A retry due soon waits as available rather than retryable: a failure is an error.
		Where("array_length(errors, 1) > 0").
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit))
	if err != nil {
		return nil, fmt.Errorf("queue: list deliveries: %w", err)
	}
	out := make([]webhook.Delivery, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		out = append(out, delivery(j))
	}
	return out, nil
}

func delivery(j *rivertype.JobRow) webhook.Delivery {
	var a deliveryArgs
	_ = jsonUnmarshal(j.EncodedArgs, &a)
	d := webhook.Delivery{
		ID: j.ID, EventID: a.EventID.String(), SubscriptionID: a.SubscriptionID.String(),
		State: string(j.State), Attempts: j.Attempt, MaxAttempts: j.MaxAttempts,
	}
	if n := len(j.Errors); n > 0 {
		d.LastError = j.Errors[n-1].Error
	}
	if j.State != rivertype.JobStateDiscarded && j.State != rivertype.JobStateRunning {
		t := j.ScheduledAt.UTC()
		d.NextAttemptAt = &t
	}
	return d
}

// RetryDelivery implements webhook.Deliveries.
func (q *Queue) RetryDelivery(ctx context.Context, id int64) error {
	j, err := q.client.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) || (err == nil && j.Kind != deliveryArgs{}.Kind()) {
		return files.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if _, err := q.client.JobRetry(ctx, id); err != nil {
		return fmt.Errorf("queue: retry: %w", err)
	}
	return nil
}
