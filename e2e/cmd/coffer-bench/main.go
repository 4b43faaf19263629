// Command coffer-bench measures Coffer against its peers on this machine, in one run: nginx,
// a bare Go http.ServeFile server, tusd and versitygw serve the same files as Coffer's file
// node (on the disk and S3 backends, with real PostgreSQL), the same load generator drives
// each in turn, and every figure is reported as a ratio against its reference, with its
// spread over the runs. `make bench` calls it; docs/PERFORMANCE.md explains the figures.
//
// Each figure is measured several times, peers interleaved, because the machines this runs on
// are shared and noisy: a ratio measured in one run means something, an absolute number does
// not. It writes results.md and results.json into -dir and prints the table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	// The hidden servefile mode is the bare Go peer, run as its own process so its CPU is
	// its own.
	if len(os.Args) > 2 && os.Args[1] == "servefile" {
		if err := serveFiles(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "coffer-bench servefile:", err)
			os.Exit(1)
		}
		return
	}
	// putfile is the bare Go durable-upload peer: the plainest PUT handler that makes a body
	// durable, the HTTP limit Coffer's uploads are measured against.
	if len(os.Args) > 2 && os.Args[1] == "putfile" {
		if err := servePuts(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "coffer-bench putfile:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "coffer-bench:", err)
		stop()
		os.Exit(1)
	}
}

// settings are the sizes and durations of one bench run.
type settings struct {
	Quick       bool
	Runs        int
	WrkDuration time.Duration
	WrkConns    int
	BigGet      int64 // bytes of the large download
	Upload      int64 // bytes of the large upload
	Concurrent  int   // concurrent uploads for the memory figure
	ConcSize    int64 // bytes of each of them
	ListRows    bool  // run BenchmarkList (one million rows)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coffer-bench", flag.ContinueOnError)
	dir := fs.String("dir", ".run/bench", "folder for results, logs and the run's data")
	authBin := fs.String("auth", ".run/bench/bin/coffer-auth", "auth service binary")
	filesBin := fs.String("files", ".run/bench/bin/coffer-files", "file service binary")
	tusdBin := fs.String("tusd", ".cache/bin/tusd", "tusd binary")
	versityBin := fs.String("versitygw", ".cache/bin/versitygw", "versitygw binary")
	quick := fs.Bool("quick", getenv("BENCH_QUICK") == "1", "small sizes and short runs (a couple of minutes), for iteration")
	runs := fs.Int("runs", 0, "repetitions of each figure (default 3, quick 2)")
	hold := fs.Bool("hold", false, "start and seed everything, print the URLs and a token, and wait for Ctrl-C instead of measuring (for perf and pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := settings{Runs: 3, WrkDuration: 10 * time.Second, WrkConns: 32, BigGet: 256 << 20, Upload: 1 << 30,
		Concurrent: 64, ConcSize: 16 << 20, ListRows: true}
	if *quick {
		set = settings{Quick: true, Runs: 2, WrkDuration: 3 * time.Second, WrkConns: 32, BigGet: 64 << 20, Upload: 256 << 20,
			Concurrent: 64, ConcSize: 2 << 20}
	}
	if *runs > 0 {
		set.Runs = *runs
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	// A fresh work folder each run; results stay next to it.
	work := filepath.Join(abs, "work")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{set: set, hold: *hold, dir: abs, work: work, out: stdout, logw: stderr,
		bins: binaries{auth: *authBin, files: *filesBin, tusd: *tusdBin, versitygw: *versityBin, self: selfPath()}}
	defer b.stopAll()
	if err := b.run(ctx); err != nil {
		return err
	}
	return nil
}

func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return p
}

// serveFiles is the bare Go peer: http.ServeFile of a folder, nothing else.
func serveFiles(addr, root string) error {
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(root, filepath.Clean("/"+r.URL.Path)))
	})}
	err := srv.ListenAndServe()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// servePuts is the bare Go durable-upload peer: a PUT copies the body (io.Copy, as plain as it
// gets) to a temporary file in dir, fsyncs it, renames it into place and fsyncs the folder,
// which is what Coffer's disk store must also do before its 201, minus the hash, the row and
// the authentication. GET /ready answers so the harness can wait for it.
func servePuts(addr, dir string) error {
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			w.WriteHeader(http.StatusOK)
			return
		}
		name := filepath.Base(filepath.Clean("/" + r.URL.Path))
		if err := putDurably(dir, name, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})}
	err := srv.ListenAndServe()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func putDurably(dir, name string, body io.Reader) error {
	tmp, err := os.CreateTemp(dir, ".put-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
