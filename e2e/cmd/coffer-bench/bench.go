package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
	"github.com/cofferhq/coffer/pkg/pgcluster"
)

type binaries struct{ auth, files, tusd, versitygw, self string }

// bench is one run: the processes it started and the samples it took.
type bench struct {
	set  settings
	hold bool
	dir  string // results and logs
	work string // data of this run, removed at the end
	out  io.Writer
	logw io.Writer
	bins binaries

	cluster *pgcluster.Cluster
	procs   []*harness.Process
	logs    *os.File

	auth, disk, s3node, nginx, servefile, tusd, putfile *harness.Process
	s3                                                  *s3peer

	// diskCache is a second disk node on the same database and blobs, with the access cache
	// on (issue 23: ≥ 0.7× ServeFile); disk runs without it.
	diskCache  *harness.Process
	pprofCache string

	// s3Redirect is a second S3 node on the same database and bucket with
	// COFFER_FILES_S3_REDIRECT=true: its downloads are a 307 to versitygw.
	s3Redirect *harness.Process

	// s3Cache is a third S3 node on the same database and bucket with the access cache on:
	// a repeated small download asks neither PostgreSQL nor S3 (the blob cache).
	s3Cache *harness.Process

	token     string
	paths     map[string]string // peer/object -> URL of the small and big files, per peer
	res       *results
	pprofAddr string
}

// Subjects (the servers measured) as they appear in the table.
const (
	subjNginx     = "nginx"
	subjServeFile = "Go http.ServeFile"
	subjTusd      = "tusd v2.9.1"
	subjCoffer    = "Coffer (disk)"
	subjVersity   = "versitygw presigned GET"
	subjCofferS3  = "Coffer (S3 via versitygw)"
	subjDD        = "dd bs=1M conv=fsync"
	// subjPut is the bare Go PUT handler (servePuts): body to a file, fsync, rename, fsync
	// the folder. The HTTP durable-upload limit, and the reference of Coffer's uploads.
	subjPut = "Go PUT+fsync (bare)"
	// subjVersityPut is a presigned PUT of the same object to the same versitygw.
	subjVersityPut = "versitygw presigned PUT"
	// subjCofferTus is Coffer's resumable (tus) upload endpoint, PATCHes of tusChunk bytes.
	subjCofferTus = "Coffer (tus, 64 MiB PATCHes)"

	// subjCofferCache is the disk node with COFFER_FILES_ACCESS_CACHE=true.
	subjCofferCache = "Coffer (disk, access cache)"
	// subjCofferS3Redirect is the S3 node in redirect mode, the redirect followed.
	subjCofferS3Redirect = "Coffer (S3, 307 to versitygw)"
	// subjCofferS3Cache is the S3 node with COFFER_FILES_ACCESS_CACHE=true.
	subjCofferS3Cache = "Coffer (S3, access cache)"
)

func (b *bench) run(ctx context.Context) error {
	b.res = newResults(b.set)
	if err := os.MkdirAll(filepath.Join(b.dir, "logs"), 0o755); err != nil {
		return err
	}
	var err error
	if b.logs, err = os.Create(filepath.Join(b.dir, "logs", "services.log")); err != nil {
		return err
	}
	defer b.logs.Close()
	b.progress("machine: %s", machineLine())
	b.progress("preparing files")
	if err := b.prepareFiles(); err != nil {
		return err
	}
	b.progress("starting PostgreSQL, auth, the file nodes (disk, S3), versitygw, nginx, ServeFile, tusd")
	if err := b.startAll(ctx); err != nil {
		return err
	}
	if err := b.seed(ctx); err != nil {
		return err
	}
	if b.hold {
		return b.holdOpen(ctx)
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"4 KiB GET (wrk)", b.smallGets},
		{"large GET", b.bigGets},
		{"large upload", b.uploads},
		{"concurrent uploads", b.concurrentUploads},
		{"list at one million rows", b.list},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.progress("%s", s.name)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.stopAll()
	return b.res.write(b.dir, b.out)
}

// holdOpen prints what a person needs to load and profile the servers by hand, and waits.
func (b *bench) holdOpen(ctx context.Context) error {
	fmt.Fprintf(b.out, "token: %s\n", b.token)
	for _, t := range b.targets() {
		pid := "-"
		if t.proc != nil {
			pid = fmt.Sprint(t.proc.Pid())
		}
		fmt.Fprintf(b.out, "%-26s pid %-7s small %s\n%-26s             big   %s\n", t.subject, pid, t.small, "", t.big)
	}
	fmt.Fprintf(b.out, "pprof of the disk node: http://%s/debug/pprof/\n", b.pprofAddr)
	fmt.Fprintf(b.out, "pprof of the disk node with the access cache: http://%s/debug/pprof/\nPress Ctrl-C to stop.\n", b.pprofCache)
	<-ctx.Done()
	return nil
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.logw, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Files every peer serves: small.bin (4 KiB), big.bin (the large download) and upload.bin
// (the large upload), random bytes.
func (b *bench) www() string { return filepath.Join(b.work, "www") }

func (b *bench) prepareFiles() error {
	if err := os.MkdirAll(b.www(), 0o755); err != nil {
		return err
	}
	var seed [32]byte
	rand.Read(seed[:])
	rng := mrand.NewChaCha8(seed)
	for name, size := range map[string]int64{"small.bin": 4 << 10, "big.bin": b.set.BigGet, "upload.bin": b.set.Upload} {
		f, err := os.Create(filepath.Join(b.www(), name))
		if err != nil {
			return err
		}
		if _, err := io.CopyN(f, rng, size); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	syscall.Sync()
	return nil
}

func (b *bench) start(spec harness.Spec) (*harness.Process, error) {
	if spec.Log == nil {
		spec.Log = b.logs
	}
	p, err := harness.Start(spec)
	if err != nil {
		return nil, err
	}
	b.procs = append(b.procs, p)
	return p, nil
}

func (b *bench) startAll(ctx context.Context) error {
	var err error
	if b.cluster, err = pgcluster.Start(ctx, pgcluster.Options{Durable: true}); err != nil {
		return err
	}
	for _, name := range []string{"coffer_auth", "coffer_files", "coffer_files_s3"} {
		if err := b.cluster.CreateDatabase(ctx, name); err != nil {
			return err
		}
	}
	if b.s3, err = startS3(ctx, b); err != nil {
		return err
	}
	kek := filepath.Join(b.work, "kek")
	var k [32]byte
	rand.Read(k[:])
	if err := os.WriteFile(kek, []byte(base64.StdEncoding.EncodeToString(k[:])), 0o600); err != nil {
		return err
	}
	addrs := map[string]string{}
	for _, n := range []string{"auth", "disk", "s3", "pprof", "nginx", "servefile", "tusd", "putfile", "diskcache", "pprofcache", "s3redirect", "s3cache"} {
		if addrs[n], err = harness.FreeAddr(); err != nil {
			return err
		}
	}
	authURL := "http://" + addrs["auth"]
	if b.auth, err = b.start(harness.Spec{Name: "auth", Bin: b.bins.auth, Addr: addrs["auth"], Env: harness.Env(map[string]string{
		"COFFER_AUTH_ADDR": addrs["auth"], "COFFER_AUTH_DATABASE_URL": b.cluster.DSN("coffer_auth"),
		"COFFER_AUTH_ISSUER": authURL, "COFFER_AUTH_KEK_FILE": kek, "COFFER_AUTH_SIGNUP": "true",
	})}); err != nil {
		return err
	}
	filesEnv := func(addr, db string, extra map[string]string) []string {
		env := map[string]string{
			"COFFER_FILES_ADDR": addr, "COFFER_FILES_DATABASE_URL": b.cluster.DSN(db), "COFFER_FILES_AUTH_URL": authURL,
			"COFFER_FILES_DATA_DIR": filepath.Join(b.work, "blobs"), "COFFER_FILES_MAX_FILE_SIZE": "4G",
			"COFFER_FILES_GC_INTERVAL": "0",
		}
		for k, v := range extra {
			env[k] = v
		}
		return harness.Env(env)
	}
	b.pprofAddr, b.pprofCache = addrs["pprof"], addrs["pprofcache"]
	if b.disk, err = b.start(harness.Spec{Name: "files-disk", Bin: b.bins.files, Addr: addrs["disk"],
		Env: filesEnv(addrs["disk"], "coffer_files", map[string]string{"COFFER_FILES_PPROF_ADDR": addrs["pprof"]})}); err != nil {
		return err
	}
	if b.diskCache, err = b.start(harness.Spec{Name: "files-disk-cache", Bin: b.bins.files, Addr: addrs["diskcache"],
		Env: filesEnv(addrs["diskcache"], "coffer_files", map[string]string{"COFFER_FILES_ACCESS_CACHE": "true", "COFFER_FILES_PPROF_ADDR": addrs["pprofcache"]})}); err != nil {
		return err
	}
	if b.s3node, err = b.start(harness.Spec{Name: "files-s3", Bin: b.bins.files, Addr: addrs["s3"],
		Env: filesEnv(addrs["s3"], "coffer_files_s3", b.s3.filesEnv())}); err != nil {
		return err
	}
	redirectEnv := b.s3.filesEnv()
	redirectEnv["COFFER_FILES_S3_REDIRECT"] = "true"
	if b.s3Redirect, err = b.start(harness.Spec{Name: "files-s3-redirect", Bin: b.bins.files, Addr: addrs["s3redirect"],
		Env: filesEnv(addrs["s3redirect"], "coffer_files_s3", redirectEnv)}); err != nil {
		return err
	}
	cacheEnv := b.s3.filesEnv()
	cacheEnv["COFFER_FILES_ACCESS_CACHE"] = "true"
	if b.s3Cache, err = b.start(harness.Spec{Name: "files-s3-cache", Bin: b.bins.files, Addr: addrs["s3cache"],
		Env: filesEnv(addrs["s3cache"], "coffer_files_s3", cacheEnv)}); err != nil {
		return err
	}
	if b.nginx, err = b.startNginx(addrs["nginx"]); err != nil {
		return err
	}
	if b.servefile, err = b.start(harness.Spec{Name: "servefile", Bin: b.bins.self, Args: []string{"servefile", addrs["servefile"], b.www()},
		Addr: addrs["servefile"]}); err != nil {
		return err
	}
	// The bare PUT peer writes into the folder Coffer's blobs go to: same file system, same disk.
	putDir := filepath.Join(b.work, "blobs", "bare-put")
	if err := os.MkdirAll(putDir, 0o755); err != nil {
		return err
	}
	if b.putfile, err = b.start(harness.Spec{Name: "putfile", Bin: b.bins.self, Args: []string{"putfile", addrs["putfile"], putDir},
		Addr: addrs["putfile"]}); err != nil {
		return err
	}
	host, port, _ := strings.Cut(addrs["tusd"], ":")
	tusDir := filepath.Join(b.work, "tusd")
	if b.tusd, err = b.start(harness.Spec{Name: "tusd", Bin: b.bins.tusd, Addr: addrs["tusd"], Log: io.Discard,
		Args: []string{"-host", host, "-port", port, "-upload-dir", tusDir, "-base-path", "/files/", "-verbose=false", "-show-greeting=false"}}); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for p, path := range map[*harness.Process]string{b.auth: "/readyz", b.disk: "/readyz", b.diskCache: "/readyz", b.s3node: "/readyz", b.s3Redirect: "/readyz", b.s3Cache: "/readyz",
		b.nginx: "/small.bin", b.servefile: "/small.bin", b.tusd: "/metrics", b.putfile: "/ready"} {
		if err := p.WaitReady(rctx, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) startNginx(addr string) (*harness.Process, error) {
	bin, err := lookNginx()
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(b.work, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		return nil, err
	}
	// Like the others, nginx logs every request (to a file) and serves with sendfile.
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events { worker_connections 1024; }
http {
	access_log %[1]s/logs/access.log;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path %[1]s/tmp;
	proxy_temp_path %[1]s/tmp;
	fastcgi_temp_path %[1]s/tmp;
	uwsgi_temp_path %[1]s/tmp;
	scgi_temp_path %[1]s/tmp;
	types { application/octet-stream bin; }
	server {
		listen %[2]s;
		root %[3]s;
	}
}
`, prefix, addr, b.www())
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return b.start(harness.Spec{Name: "nginx", Bin: bin, Args: []string{"-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "logs", "error.log")}, Addr: addr})
}

func lookNginx() (string, error) {
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("nginx not found (make bench installs Debian's nginx-light)")
}

// stopAll stops every process the run started, newest first, and the cluster.
func (b *bench) stopAll() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].Stop(30 * time.Second)
	}
	b.procs = nil
	if b.s3 != nil {
		b.s3.stop()
		b.s3 = nil
	}
	if b.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b.cluster.Stop(ctx)
		b.cluster = nil
	}
}

// client is the HTTP client of every measurement except wrk's. Following a redirect to
// another origin (the S3 node in redirect mode), it drops the bearer token, as pkg/client does.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != via[0].URL.Host {
			req.Header.Del("Authorization")
		}
		return nil
	}}
