// Package fsck checks that the file service's database and blob store agree: every file row's
// blob exists with the row's size (and, when asked, its SHA-256), no blob is left that nothing
// references, and no expired resumable upload lingers. With Repair it collects what is safe to
// collect (through the garbage collector, with its grace periods and lock) and marks rows whose
// bytes are gone or damaged, so they answer files.ErrContentMissing instead of wrong bytes.
//
// It works on any blob store that can list its blobs (disk and S3 alike), reads digests at a
// bounded rate so a check of a live store does not starve the nodes serving it, and walks the
// rows in batches so no transaction stays open for the length of a check.
package fsck

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/gc"
)

// Store is what fsck needs of a blob store.
type Store interface {
	files.BlobStore
	files.BlobLister
}

// Rows is what fsck needs of the database (postgres.DB).
type Rows interface {
	// FileRefs calls fn for every file row created before before.
	FileRefs(ctx context.Context, before time.Time, fn func(files.File) error) error
	// MissingBlobKeys returns the keys among keys that no file or upload references and no
	// file deleted after deletedSince referenced.
	MissingBlobKeys(ctx context.Context, keys []string, deletedSince time.Time) ([]string, error)
	// ExpiredUploads lists up to limit resumable uploads that expired before now.
	ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]files.Upload, error)
	// MarkMissing marks a file's bytes as gone unless its row changed since it was read.
	MarkMissing(ctx context.Context, id uuid.UUID, blobKey string, now time.Time) (bool, error)
}

// Collector collects garbage once (gc.Collector).
type Collector interface {
	RunOnce(ctx context.Context) (gc.Result, error)
}

// Config tunes a check.
type Config struct {
	// VerifyDigests reads every blob whose size is right and compares its SHA-256.
	VerifyDigests bool
	// Rate bounds digest reads, in bytes per second. Default DefaultRate.
	Rate int64
	// Repair marks damaged rows and runs Collector once.
	Repair bool
	// Collector is run by Repair; nil leaves collection to the nodes.
	Collector Collector
	// Grace is the age under which an unreferenced blob may be an upload about to commit its
	// row (COFFER_FILES_GC_GRACE): it is listed, but is not a problem. Default 1h.
	Grace time.Duration
	// BlobGrace is how long deleted files' blobs are kept (COFFER_FILES_BLOB_GRACE): such a
	// blob is retained, not an orphan.
	BlobGrace time.Duration
}

// DefaultRate is Config.Rate unless configured otherwise: a fraction of a disk's or an S3
// connection's throughput, so a node sharing the store keeps most of it.
const DefaultRate = 64 << 20

// Finding is one disagreement between a row and its blob, or a blob no row references.
type Finding struct {
	Kind   string    // see the Kind constants
	FileID uuid.UUID // zero for orphans
	Key    string    // the blob key
	Detail string    // what differs, for people
	Young  bool      // an orphan younger than Grace (perhaps an upload in flight): not a problem
	// Repaired is set when Repair marked the row missing, or when its collector run took the
	// orphan or expired upload.
	Repaired bool
}

// Kinds of finding.
const (
	KindMissing       = "missing"        // the row's blob is gone
	KindSize          = "size"           // the blob's size differs from the row's
	KindDigest        = "digest"         // the blob's SHA-256 differs from the row's
	KindMarked        = "marked-missing" // already marked by an earlier repair (known loss)
	KindOrphan        = "orphan"         // a blob no row references
	KindExpiredUpload = "expired-upload" // a resumable upload past its expiry, not yet collected
)

// Report is the outcome of one check.
type Report struct {
	Files    int // rows checked
	Blobs    int // blobs listed
	Retained int // unreferenced blobs kept on purpose (deleted within BlobGrace, uploads in progress)
	Verified int // blobs whose digest was read and matched
	Findings []Finding
	// Marked is how many rows Repair marked missing; Collected what its collector removed.
	Marked    int
	Collected gc.Result
}

// Count returns how many findings are of kind, leaving out young orphans.
func (r Report) Count(kind string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Kind == kind && !f.Young {
			n++
		}
	}
	return n
}

// Problems counts the findings that need an operator or a repair: everything but known
// losses and young orphans.
func (r Report) Problems() int {
	n := 0
	for _, f := range r.Findings {
		if f.Kind != KindMarked && !f.Young {
			n++
		}
	}
	return n
}

// Unrepaired counts the problems a repair did not settle (all of them without Repair).
func (r Report) Unrepaired() int {
	n := 0
	for _, f := range r.Findings {
		if f.Kind != KindMarked && !f.Young && !f.Repaired {
			n++
		}
	}
	return n
}

// Checker runs checks.
type Checker struct {
	blobs  Store
	rows   Rows
	cfg    Config
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	logger *slog.Logger
}

// New returns a Checker. now may be nil (time.Now).
func New(blobs Store, rows Rows, cfg Config, now func() time.Time, logger *slog.Logger) *Checker {
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Grace <= 0 {
		cfg.Grace = time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &Checker{blobs: blobs, rows: rows, cfg: cfg, now: now, sleep: sleepCtx, logger: logger}
}

// Run checks once and, with Repair, repairs. The report lists every finding, repaired or not.
func (c *Checker) Run(ctx context.Context) (Report, error) {
	var rep Report
	start := c.now()
	// Blobs first, rows second: a row committed during the check is skipped (created after
	// start), so its blob, written after the listing, is never reported missing.
	listed := map[string]files.BlobInfo{}
	far := start.Add(24 * time.Hour) // list every blob, whatever its clock says
	err := c.blobs.ListBlobs(ctx, far, func(bi files.BlobInfo) error {
		if files.IsBlobKey(bi.Key) {
			listed[bi.Key] = bi
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("fsck: list blobs: %w", err)
	}
	rep.Blobs = len(listed)

	var damaged []files.File
	err = c.rows.FileRefs(ctx, start, func(f files.File) error {
		rep.Files++
		if strings.HasPrefix(f.BlobKey, files.MissingKeyPrefix) {
			rep.Findings = append(rep.Findings, Finding{Kind: KindMarked, FileID: f.ID, Key: f.BlobKey, Detail: "marked missing by an earlier repair"})
			return nil
		}
		bi, ok := listed[f.BlobKey]
		delete(listed, f.BlobKey)
		switch {
		case !ok:
			rep.Findings = append(rep.Findings, Finding{Kind: KindMissing, FileID: f.ID, Key: f.BlobKey, Detail: "no blob"})
			damaged = append(damaged, f)
		case bi.Size != f.Size:
			rep.Findings = append(rep.Findings, Finding{Kind: KindSize, FileID: f.ID, Key: f.BlobKey,
				Detail: fmt.Sprintf("blob has %d bytes, row says %d", bi.Size, f.Size)})
			damaged = append(damaged, f)
		case c.cfg.VerifyDigests:
			match, err := c.verify(ctx, f)
			if err != nil {
				return err
			}
			if !match {
				rep.Findings = append(rep.Findings, Finding{Kind: KindDigest, FileID: f.ID, Key: f.BlobKey, Detail: "SHA-256 differs from the row's"})
				damaged = append(damaged, f)
			} else {
				rep.Verified++
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("fsck: rows: %w", err)
	}

	if err := c.orphans(ctx, listed, start, &rep); err != nil {
		return rep, err
	}
	ups, err := c.rows.ExpiredUploads(ctx, start, 10000)
	if err != nil {
		return rep, fmt.Errorf("fsck: expired uploads: %w", err)
	}
	for _, u := range ups {
		rep.Findings = append(rep.Findings, Finding{Kind: KindExpiredUpload, FileID: u.ID, Key: u.ID.String(), Detail: "expired " + u.ExpiresAt.UTC().Format(time.RFC3339)})
	}

	if !c.cfg.Repair {
		return rep, nil
	}
	marked := map[uuid.UUID]bool{}
	for _, f := range damaged {
		ok, err := c.rows.MarkMissing(ctx, f.ID, f.BlobKey, c.now())
		if err != nil {
			return rep, fmt.Errorf("fsck: %w", err)
		}
		if ok {
			rep.Marked++
			marked[f.ID] = true
			c.logger.Warn("file marked missing", "file", f.ID, "key", f.BlobKey)
		}
	}
	collected := false
	if c.cfg.Collector != nil {
		res, err := c.cfg.Collector.RunOnce(ctx)
		rep.Collected = res
		if err != nil {
			return rep, fmt.Errorf("fsck: collect: %w", err)
		}
		collected = !res.Skipped
	}
	// What the collector took is checked, not assumed: an orphan is gone from the store, an
	// expired upload from the database.
	left := map[uuid.UUID]bool{}
	if collected {
		ups, err := c.rows.ExpiredUploads(ctx, start, 10000)
		if err != nil {
			return rep, fmt.Errorf("fsck: expired uploads: %w", err)
		}
		for _, u := range ups {
			left[u.ID] = true
		}
	}
	for i, f := range rep.Findings {
		switch f.Kind {
		case KindMissing, KindSize, KindDigest:
			rep.Findings[i].Repaired = marked[f.FileID]
		case KindExpiredUpload:
			rep.Findings[i].Repaired = collected && !left[f.FileID]
		case KindOrphan:
			if collected && !f.Young {
				gone, err := c.gone(ctx, f.Key)
				if err != nil {
					return rep, err
				}
				rep.Findings[i].Repaired = gone
			}
		}
	}
	return rep, nil
}

// orphans reports the listed blobs no row claimed that the database does not keep either
// (uploads in progress, files deleted within the blob grace).
func (c *Checker) orphans(ctx context.Context, listed map[string]files.BlobInfo, start time.Time, rep *Report) error {
	keys := make([]string, 0, len(listed))
	for k := range listed {
		keys = append(keys, k)
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		batch := keys[:n]
		keys = keys[n:]
		missing, err := c.rows.MissingBlobKeys(ctx, batch, start.Add(-c.cfg.BlobGrace))
		if err != nil {
			return fmt.Errorf("fsck: orphans: %w", err)
		}
		rep.Retained += len(batch) - len(missing)
		for _, k := range missing {
			bi := listed[k]
			young := start.Sub(bi.ModTime) < c.cfg.Grace
			detail := fmt.Sprintf("%d bytes, written %s", bi.Size, bi.ModTime.UTC().Format(time.RFC3339))
			if young {
				detail += " (younger than the grace: may be an upload committing)"
			}
			rep.Findings = append(rep.Findings, Finding{Kind: KindOrphan, Key: k, Detail: detail, Young: young})
		}
	}
	return nil
}

// gone reports whether the store no longer has key.
func (c *Checker) gone(ctx context.Context, key string) (bool, error) {
	b, err := c.blobs.Open(ctx, key)
	if errors.Is(err, files.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("fsck: open %s: %w", key, err)
	}
	b.Close()
	return false, nil
}

// verify reads f's blob at the configured rate and compares its SHA-256 with the row's. A
// blob that vanished since the listing is a mismatch only if the row still names it; that is
// left to the next check.
func (c *Checker) verify(ctx context.Context, f files.File) (bool, error) {
	b, err := c.blobs.Open(ctx, f.BlobKey)
	if errors.Is(err, files.ErrNotFound) {
		return true, nil // deleted since the listing (the row walk raced a delete)
	}
	if err != nil {
		return false, fmt.Errorf("fsck: open %s: %w", f.BlobKey, err)
	}
	defer b.Close()
	h := sha256.New()
	if err := c.copyLimited(ctx, h, b); err != nil {
		return false, fmt.Errorf("fsck: read %s: %w", f.BlobKey, err)
	}
	return subtle.ConstantTimeCompare(h.Sum(nil), f.SHA256) == 1, nil
}

// copyLimited copies r to w at no more than cfg.Rate bytes per second on average.
func (c *Checker) copyLimited(ctx context.Context, w io.Writer, r io.Reader) error {
	buf := make([]byte, 256<<10)
	start := time.Now()
	var done int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			done += int64(n)
			// Ahead of the rate: wait until the bytes read so far are due.
			due := time.Duration(float64(done) / float64(c.cfg.Rate) * float64(time.Second))
			if wait := due - time.Since(start); wait > 0 {
				if err := c.sleep(ctx, wait); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
