package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// deliveryWorker sends one event to one subscription, signed, and fails (to be retried with
// backoff) on anything but a 2xx answer.
type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	cfg     Config
	store   Store
	sender  *webhook.Sender
	metrics *Metrics
	logger  *slog.Logger
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliveryArgs]) error {
	sub, err := w.store.SubscriptionByID(ctx, job.Args.SubscriptionID)
	if errors.Is(err, files.ErrNotFound) { // unsubscribed meanwhile: nobody to tell
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	e, err := w.store.EventByID(ctx, job.Args.EventID)
	if errors.Is(err, files.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	body, err := webhook.Body(e)
	if err != nil {
		return river.JobCancel(err)
	}
	start := time.Now()
	resp, err := w.sender.Post(ctx, sub.URL, sub.Secret, e.ID.String(), body)
	w.metrics.deliveryDone(err == nil, time.Since(start))
	if err != nil {
		// The receiver's body may say why; a little of it goes into the job's error, which
		// admins see. The URL is not logged: it may carry a token of the receiver's.
		w.logger.WarnContext(ctx, "webhook delivery failed", "delivery", job.ID, "event", e.ID, "type", e.Type,
			"subscription", sub.ID, "attempt", job.Attempt, "err", err)
		if resp.Status != 0 {
			return fmt.Errorf("%w: %.200s", err, resp.Body)
		}
		return err
	}
	return nil
}

func (w *deliveryWorker) NextRetry(job *river.Job[deliveryArgs]) time.Time {
	return time.Now().Add(backoff(w.cfg.RetryBase, w.cfg.RetryMax, len(job.Errors)))
}

func (w *deliveryWorker) Timeout(*river.Job[deliveryArgs]) time.Duration {
	return w.cfg.DeliveryTimeout + 5*time.Second
}

// scanWorker streams a pending file's blob to the scanner: clean makes it available,
// infected rejects it (file.rejected) and deletes its bytes.
type scanWorker struct {
	river.WorkerDefaults[scanArgs]
	cfg     Config
	store   Store
	scanner Scanner
	blobs   files.BlobStore
	metrics *Metrics
	logger  *slog.Logger
}

func (w *scanWorker) Work(ctx context.Context, job *river.Job[scanArgs]) error {
	f, err := w.store.FileForScan(ctx, job.Args.FileID)
	if errors.Is(err, files.ErrNotFound) {
		return nil // deleted before its scan
	}
	if err != nil {
		return err
	}
	switch f.Status {
	case files.StatusAvailable:
		return nil
	case files.StatusRejected:
		// Judged by an earlier run whose blob removal failed: finish it.
		return w.blobs.Delete(ctx, f.BlobKey)
	}
	b, err := w.blobs.Open(ctx, f.BlobKey)
	if err != nil {
		return fmt.Errorf("open blob: %w", err)
	}
	found, err := w.scanner.Scan(ctx, b)
	b.Close()
	if err != nil {
		w.metrics.scanDone("error")
		w.logger.WarnContext(ctx, "scan failed; retrying", "file", f.ID, "attempt", job.Attempt, "err", err)
		return err
	}
	if found == "" {
		w.metrics.scanDone("clean")
		_, err := w.store.MarkAvailable(ctx, f.ID)
		return err
	}
	w.metrics.scanDone("infected")
	w.logger.InfoContext(ctx, "file rejected by the scanner", "file", f.ID, "owner", f.OwnerID, "found", found)
	if _, _, err := w.store.RejectFile(ctx, f.ID, "virus scanner found "+found); err != nil {
		return err
	}
	return w.blobs.Delete(ctx, f.BlobKey)
}

func (w *scanWorker) NextRetry(job *river.Job[scanArgs]) time.Time {
	return time.Now().Add(backoff(time.Second, w.cfg.ScanRetryMax, len(job.Errors)))
}

func (w *scanWorker) Timeout(*river.Job[scanArgs]) time.Duration { return w.cfg.ScanTimeout }
