package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/pkg/envconf"
	"github.com/cofferhq/coffer/services/files/internal/fsck"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
)

// Exit statuses of fsck, after fsck(8): a cron job alerts on anything but 0.
const (
	fsckClean      = 0 // no problem found
	fsckRepaired   = 1 // problems found, and --repair settled every one
	fsckUnrepaired = 4 // problems left (found without --repair, or beyond it)
	fsckFailed     = 8 // the check itself failed (database, store, configuration)
)

// exitError ends the process with a status of its own (main reads it).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// fsckCmd checks rows against blobs once: `coffer-files fsck [--repair] [--verify-digests]
// [--rate 64M] [--metrics-file PATH]`. It prints one line per finding and a summary.
func fsckCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repair := fs.Bool("repair", false, "mark rows whose bytes are gone or damaged, and collect orphan blobs and expired uploads")
	verify := fs.Bool("verify-digests", false, "read every blob and compare its SHA-256 with its row's")
	rate := fs.String("rate", "64M", "the most bytes per second --verify-digests reads (suffix K, M, G)")
	metricsFile := fs.String("metrics-file", "", "write the result as Prometheus metrics to this file (node_exporter's textfile collector)")
	if err := fs.Parse(args); err != nil {
		return &exitError{fsckFailed, err}
	}
	rr := envconf.New(func(string) string { return *rate })
	bytesPerSec := rr.Int64("--rate", fsck.DefaultRate)
	if err := rr.Err(); err != nil || bytesPerSec <= 0 {
		return &exitError{fsckFailed, fmt.Errorf("--rate %q is not a positive size such as 64M", *rate)}
	}
	cfg, err := loadConfig(getenv, os.ReadFile)
	if err != nil {
		return &exitError{fsckFailed, fmt.Errorf("configuration:\n%w", err)}
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("service", "files", "command", "fsck")
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return &exitError{fsckFailed, fmt.Errorf("database: %w", err)}
	}
	defer pool.Close()
	blobs, err := openBlobStore(cfg)
	if err != nil {
		return &exitError{fsckFailed, err}
	}
	db := postgres.New(pool)
	fcfg := fsck.Config{VerifyDigests: *verify, Rate: bytesPerSec, Repair: *repair, Grace: cfg.GCGrace, BlobGrace: cfg.BlobGrace}
	if *repair {
		fcfg.Collector = newCollector(cfg, blobs, db, true, logger)
	}
	started := time.Now()
	rep, err := fsck.New(blobs, db, fcfg, nil, logger).Run(ctx)
	if err != nil {
		writeFsckMetrics(*metricsFile, rep, started, false, logger)
		return &exitError{fsckFailed, err}
	}
	for _, f := range rep.Findings {
		state := ""
		switch {
		case f.Repaired && f.Kind == fsck.KindOrphan || f.Repaired && f.Kind == fsck.KindExpiredUpload:
			state = " [collected]"
		case f.Repaired:
			state = " [marked missing]"
		case f.Young:
			state = " [young, kept]"
		}
		id := ""
		if f.FileID.String() != "00000000-0000-0000-0000-000000000000" && f.Kind != fsck.KindExpiredUpload {
			id = " file=" + f.FileID.String()
		}
		fmt.Fprintf(stdout, "%s key=%s%s: %s%s\n", f.Kind, f.Key, id, f.Detail, state)
	}
	fmt.Fprintf(stdout, "checked %d file(s) and %d blob(s) (%d digest(s) verified, %d kept for grace or uploads): %d missing, %d size, %d digest, %d orphan(s), %d expired upload(s), %d marked missing earlier",
		rep.Files, rep.Blobs, rep.Verified, rep.Retained, rep.Count(fsck.KindMissing), rep.Count(fsck.KindSize), rep.Count(fsck.KindDigest),
		rep.Count(fsck.KindOrphan), rep.Count(fsck.KindExpiredUpload), rep.Count(fsck.KindMarked))
	if *repair {
		fmt.Fprintf(stdout, "; repaired: %d row(s) marked missing, %d orphan(s) and %d expired upload(s) collected",
			rep.Marked, rep.Collected.Orphans, rep.Collected.Uploads)
	}
	fmt.Fprintln(stdout)
	writeFsckMetrics(*metricsFile, rep, started, true, logger)
	switch {
	case rep.Problems() == 0:
		return nil
	case rep.Unrepaired() == 0:
		return &exitError{fsckRepaired, fmt.Errorf("fsck: %d problem(s) found and repaired", rep.Problems())}
	default:
		return &exitError{fsckUnrepaired, fmt.Errorf("fsck: %d problem(s) not repaired", rep.Unrepaired())}
	}
}

// writeFsckMetrics writes the check's result for node_exporter's textfile collector, where an
// alert rule can watch coffer_files_fsck_problems and the age of the last successful run.
func writeFsckMetrics(path string, rep fsck.Report, started time.Time, ok bool, logger *slog.Logger) {
	if path == "" {
		return
	}
	reg := prometheus.NewRegistry()
	problems := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "coffer_files_fsck_problems", Help: "Findings of the last fsck by kind (young orphans left out); marked-missing are known losses.",
	}, []string{"kind"})
	for _, k := range []string{fsck.KindMissing, fsck.KindSize, fsck.KindDigest, fsck.KindOrphan, fsck.KindExpiredUpload, fsck.KindMarked} {
		problems.WithLabelValues(k).Set(float64(rep.Count(k)))
	}
	unrepaired := prometheus.NewGauge(prometheus.GaugeOpts{Name: "coffer_files_fsck_unrepaired", Help: "Problems the last fsck left unrepaired."})
	unrepaired.Set(float64(rep.Unrepaired()))
	checked := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "coffer_files_fsck_checked", Help: "What the last fsck checked."}, []string{"what"})
	checked.WithLabelValues("files").Set(float64(rep.Files))
	checked.WithLabelValues("blobs").Set(float64(rep.Blobs))
	checked.WithLabelValues("digests").Set(float64(rep.Verified))
	success := prometheus.NewGauge(prometheus.GaugeOpts{Name: "coffer_files_fsck_success", Help: "1 if the last fsck ran to the end, 0 if it failed."})
	last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "coffer_files_fsck_last_run_timestamp_seconds", Help: "When the last fsck started."})
	last.Set(float64(started.Unix()))
	if ok {
		success.Set(1)
	}
	reg.MustRegister(problems, unrepaired, checked, success, last)
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		logger.Error("write fsck metrics", "path", path, "err", err)
	}
}
