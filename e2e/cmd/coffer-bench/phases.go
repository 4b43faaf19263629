package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
)

// target is one server and the URLs of its copy of small.bin and big.bin.
type target struct {
	subject    string
	proc       *harness.Process // for CPU accounting; nil when not one process (nginx, versitygw)
	small, big string
	header     map[string]string
	bigOnly    bool // not driven by wrk (which follows no redirect): large GETs only
	smallOnly  bool // measured on small GETs only (its large GET is another target's)
}

// seed signs a user up, and puts small.bin and big.bin on every server.
func (b *bench) seed(ctx context.Context) error {
	tok, err := b.login()
	if err != nil {
		return err
	}
	b.token = tok
	b.paths = map[string]string{}
	for _, node := range []*harness.Process{b.disk, b.s3node} {
		for _, name := range []string{"small.bin", "big.bin"} {
			id, err := b.cofferUpload(node, filepath.Join(b.www(), name))
			if err != nil {
				return err
			}
			b.paths[node.Name+"/"+name] = node.URL + "/v1/files/" + id + "/content"
		}
	}
	for _, name := range []string{"small.bin", "big.bin"} {
		u, err := b.tusUpload(filepath.Join(b.www(), name))
		if err != nil {
			return err
		}
		b.paths["tusd/"+name] = u
		put, err := b.s3.putURL(ctx, name)
		if err != nil {
			return err
		}
		if _, err := putFile("PUT", put, filepath.Join(b.www(), name), nil, http.StatusOK); err != nil {
			return fmt.Errorf("versitygw put: %w", err)
		}
		if b.paths["versitygw/"+name], err = b.s3.getURL(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) targets() []target {
	auth := map[string]string{"Authorization": "Bearer " + b.token}
	return []target{
		{subject: subjNginx, small: b.nginx.URL + "/small.bin", big: b.nginx.URL + "/big.bin"},
		{subject: subjServeFile, proc: b.servefile, small: b.servefile.URL + "/small.bin", big: b.servefile.URL + "/big.bin"},
		{subject: subjTusd, proc: b.tusd, small: b.paths["tusd/small.bin"], big: b.paths["tusd/big.bin"]},
		{subject: subjCoffer, proc: b.disk, small: b.paths["files-disk/small.bin"], big: b.paths["files-disk/big.bin"], header: auth},
		{subject: subjCofferCache, proc: b.diskCache, small: b.diskCache.URL + strings.TrimPrefix(b.paths["files-disk/small.bin"], b.disk.URL),
			big: b.diskCache.URL + strings.TrimPrefix(b.paths["files-disk/big.bin"], b.disk.URL), header: auth},
		{subject: subjVersity, small: b.paths["versitygw/small.bin"], big: b.paths["versitygw/big.bin"]},
		{subject: subjCofferS3, proc: b.s3node, small: b.paths["files-s3/small.bin"], big: b.paths["files-s3/big.bin"], header: auth},
		{subject: subjCofferS3Redirect, proc: b.s3Redirect, small: b.s3Redirect.URL + strings.TrimPrefix(b.paths["files-s3/small.bin"], b.s3node.URL),
			big: b.s3Redirect.URL + strings.TrimPrefix(b.paths["files-s3/big.bin"], b.s3node.URL), header: auth, bigOnly: true},
		{subject: subjCofferS3Cache, proc: b.s3Cache, small: b.s3Cache.URL + strings.TrimPrefix(b.paths["files-s3/small.bin"], b.s3node.URL),
			header: auth, smallOnly: true},
	}
}

// smallGets drives every server with wrk on its 4 KiB file, peers interleaved in each run,
// and counts the JWKS fetches auth saw meanwhile.
func (b *bench) smallGets(ctx context.Context) error {
	before := b.jwksFetches()
	var fileRequests int64
	nodes := 0
	for run := range b.set.Runs {
		for _, t := range b.targets() {
			if t.bigOnly {
				continue
			}
			cpu0 := procCPU(t.proc)
			r, err := wrk(ctx, t.small, t.header, b.set)
			if err != nil {
				return fmt.Errorf("%s: %w", t.subject, err)
			}
			b.res.add(figSmallRPS, t.subject, r.rps)
			b.res.add(figSmallP99, t.subject, r.p99ms)
			if t.proc != nil {
				b.res.add(figSmallCPU, t.subject, (procCPU(t.proc)-cpu0)/float64(r.requests)*1e6)
			}
			if t.header != nil {
				fileRequests += r.requests
				if run == 0 {
					nodes++
				}
			}
			if r.sockErrs != "" {
				b.res.note(figSmallRPS+", "+t.subject+fmt.Sprintf(", run %d", run+1), "wrk: "+r.sockErrs)
			}
			b.progress("  run %d %-26s %8.0f req/s  p99 %6.2f ms", run+1, t.subject, r.rps, r.p99ms)
		}
	}
	b.res.note(figJWKS, fmt.Sprintf("%d file requests on %d nodes", fileRequests, nodes))
	b.res.add(figJWKS, fmt.Sprintf("Coffer (%d file nodes)", nodes), float64(b.jwksFetches()-before))
	return nil
}

func (b *bench) bigGets(ctx context.Context) error {
	for run := range b.set.Runs {
		for _, t := range b.targets() {
			if t.smallOnly {
				continue
			}
			// One transfer lasts a fraction of a second: repeat it for a while so a sample is
			// not one scheduler hiccup of a shared machine.
			var total int64
			st := time.Now()
			for i := 0; i < 3 || time.Since(st) < b.set.WrkDuration/3; i++ {
				n, err := download(ctx, t.big, t.header)
				if err != nil {
					return fmt.Errorf("%s: %w", t.subject, err)
				}
				if n != b.set.BigGet {
					return fmt.Errorf("%s: got %d bytes, want %d", t.subject, n, b.set.BigGet)
				}
				total += n
			}
			mbs := float64(total) / time.Since(st).Seconds() / 1e6
			b.res.add(figBigGet, t.subject, mbs)
			b.progress("  run %d %-26s %8.0f MB/s", run+1, t.subject, mbs)
		}
	}
	return nil
}

// uploads measures the large upload: dd conv=fsync of the same file into the folder Coffer
// writes its blobs to (the durable limit), Coffer on disk (peak RSS too), tusd, versitygw
// and Coffer on S3. Dirty pages are flushed before each, so none inherits another's.
func (b *bench) uploads(ctx context.Context) error {
	src := filepath.Join(b.www(), "upload.bin")
	blobDir := filepath.Join(b.work, "blobs")
	for run := range b.set.Runs {
		steps := []struct {
			subject string
			fn      func() error
		}{
			{subjDD, func() error {
				out := filepath.Join(blobDir, "dd.bin")
				defer os.Remove(out)
				cmd := exec.CommandContext(ctx, "dd", "if="+src, "of="+out, "bs=1M", "conv=fsync")
				if o, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("dd: %w: %s", err, o)
				}
				return nil
			}},
			{subjCoffer, func() error {
				if err := resetHWM(b.disk); err != nil {
					return err
				}
				id, err := b.cofferUpload(b.disk, src)
				if err != nil {
					return err
				}
				b.res.add(figRSSUpload, subjCoffer, float64(hwm(b.disk))/(1<<20))
				return b.cofferDelete(b.disk, id)
			}},
			{subjPut, func() error {
				_, err := putFile("PUT", b.putfile.URL+"/upload.bin", src, nil, http.StatusCreated)
				return err
			}},
			{subjCofferTus, func() error {
				_, id, err := tusUploadAt(b.disk.URL, b.disk.URL+"/v1/uploads", src, tusChunk,
					map[string]string{"Authorization": "Bearer " + b.token})
				if err != nil {
					return err
				}
				return b.cofferDelete(b.disk, id)
			}},
			{subjTusd, func() error {
				u, err := b.tusUpload(src)
				if err != nil {
					return err
				}
				return b.tusDelete(u)
			}},
			{subjVersityPut, func() error {
				put, err := b.s3.putURL(ctx, "upload.bin")
				if err != nil {
					return err
				}
				_, err = putFile("PUT", put, src, nil, http.StatusOK)
				return err
			}},
			{subjCofferS3, func() error {
				id, err := b.cofferUpload(b.s3node, src)
				if err != nil {
					return err
				}
				return b.cofferDelete(b.s3node, id)
			}},
		}
		for _, s := range steps {
			syscall.Sync()
			st := time.Now()
			if err := s.fn(); err != nil {
				return fmt.Errorf("%s: %w", s.subject, err)
			}
			mbs := float64(b.set.Upload) / time.Since(st).Seconds() / 1e6
			b.res.add(figUpload, s.subject, mbs)
			b.progress("  run %d %-26s %8.0f MB/s", run+1, s.subject, mbs)
		}
	}
	return nil
}

// concurrentUploads sends many uploads at once to the disk node and records its peak RSS.
func (b *bench) concurrentUploads(ctx context.Context) error {
	src := filepath.Join(b.work, "conc.bin")
	f, err := os.Create(src)
	if err != nil {
		return err
	}
	in, err := os.Open(filepath.Join(b.www(), "upload.bin"))
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, in, b.set.ConcSize)
	in.Close()
	f.Close()
	if err != nil {
		return err
	}
	defer os.Remove(src)
	for run := range b.set.Runs {
		if err := resetHWM(b.disk); err != nil {
			return err
		}
		var wg sync.WaitGroup
		errs := make(chan error, b.set.Concurrent)
		ids := make(chan string, b.set.Concurrent)
		st := time.Now()
		for range b.set.Concurrent {
			wg.Go(func() {
				id, err := b.cofferUpload(b.disk, src)
				if err != nil {
					errs <- err
					return
				}
				ids <- id
			})
		}
		wg.Wait()
		el := time.Since(st)
		close(errs)
		close(ids)
		for err := range errs {
			return err
		}
		rss := float64(hwm(b.disk)) / (1 << 20)
		b.res.add(figRSSConc, subjCoffer, rss)
		b.progress("  run %d %d × %d MiB in %v, peak RSS %.1f MiB", run+1, b.set.Concurrent, b.set.ConcSize>>20, el.Round(time.Millisecond), rss)
		for id := range ids {
			if err := b.cofferDelete(b.disk, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// list runs the PostgreSQL list benchmark (one million rows) from the repository.
func (b *bench) list(ctx context.Context) error {
	if !b.set.ListRows {
		b.res.note(figListP99, "skipped in quick mode")
		return nil
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkList$/newest50", "-benchtime", "2000x",
		"-count", strconv.Itoa(b.set.Runs), "./services/files/internal/postgres/")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("BenchmarkList: %w\n%s", err, out)
	}
	re := regexp.MustCompile(`([0-9.]+) p50-ms\s+([0-9.]+) p99-ms`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		p50, _ := strconv.ParseFloat(m[1], 64)
		p99, _ := strconv.ParseFloat(m[2], 64)
		b.res.add(figListP50, "Coffer (PostgreSQL)", p50)
		b.res.add(figListP99, "Coffer (PostgreSQL)", p99)
	}
	if len(b.res.samples(figListP99, "Coffer (PostgreSQL)")) == 0 {
		return fmt.Errorf("no p50/p99 in BenchmarkList output:\n%s", out)
	}
	return nil
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	rps, p99ms float64
	requests   int64
	sockErrs   string // wrk's "Socket errors" line, if any (timeouts are 2 s without an answer)
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP99     = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	reReqs    = regexp.MustCompile(`([0-9]+) requests in`)
	reSockErr = regexp.MustCompile(`Socket errors:[^\n]*`)
)

func wrk(ctx context.Context, url string, header map[string]string, set settings) (wrkResult, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(set.WrkConns), "-d" + strconv.Itoa(int(set.WrkDuration.Seconds())) + "s", "--latency"}
	for k, v := range header {
		args = append(args, "-H", k+": "+v)
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	var r wrkResult
	s := string(out)
	if strings.Contains(s, "Non-2xx") {
		return wrkResult{}, fmt.Errorf("wrk saw failed requests:\n%s", s)
	}
	if m := reSockErr.FindString(s); m != "" {
		r.sockErrs = strings.TrimSpace(m)
	}
	m, p, n := reRPS.FindStringSubmatch(s), reP99.FindStringSubmatch(s), reReqs.FindStringSubmatch(s)
	if m == nil || p == nil || n == nil {
		return wrkResult{}, fmt.Errorf("cannot read wrk output:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.p99ms, _ = strconv.ParseFloat(p[1], 64)
	switch p[2] {
	case "us":
		r.p99ms /= 1000
	case "s":
		r.p99ms *= 1000
	}
	r.requests, _ = strconv.ParseInt(n[1], 10, 64)
	return r, nil
}

func download(ctx context.Context, url string, header map[string]string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("GET: %d %s", resp.StatusCode, body)
	}
	return io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
}

// putFile sends a file as a request body (streamed, with its Content-Length) and requires want.
func putFile(method, url, path string, header map[string]string, want int) (*http.Response, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, url, f)
	if err != nil {
		return nil, err
	}
	req.ContentLength = fi.Size()
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s: %d %s", method, resp.StatusCode, body)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (b *bench) login() (string, error) {
	pw := "bench-password-" + randomHex(8)
	body, _ := json.Marshal(map[string]string{"username": "bench", "password": pw})
	resp, err := client.Post(b.auth.URL+"/v1/users", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("sign up: %d", resp.StatusCode)
	}
	resp, err = client.Post(b.auth.URL+"/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("login: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken, nil
}

func (b *bench) cofferUpload(node *harness.Process, path string) (string, error) {
	resp, err := putFile("POST", node.URL+"/v1/files?name="+filepath.Base(path), path,
		map[string]string{"Authorization": "Bearer " + b.token, "Content-Type": "application/octet-stream"}, http.StatusCreated)
	if err != nil {
		return "", fmt.Errorf("%s upload: %w", node.Name, err)
	}
	var f struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		return "", err
	}
	return f.ID, nil
}

func (b *bench) cofferDelete(node *harness.Process, id string) error {
	req, _ := http.NewRequest("DELETE", node.URL+"/v1/files/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s delete: %d", node.Name, resp.StatusCode)
	}
	return nil
}

// tusUpload creates an upload at tusd and sends the whole file in one PATCH.
func (b *bench) tusUpload(path string) (string, error) {
	u, _, err := tusUploadAt(b.tusd.URL, b.tusd.URL+"/files/", path, 0, nil)
	return u, err
}

// tusChunk is the PATCH size of Coffer's tus upload in the bench (issue 23): each PATCH is
// durable when it returns, so the chunk size sets how often an upload waits for the disk.
const tusChunk = 64 << 20

// tusUploadAt is a tus 1.0 upload at the creation URL create: creation, then PATCHes of chunk
// bytes (0: the whole file in one), with extra headers (a bearer token). It returns the
// upload's URL and the Coffer-File-Id the last PATCH answered (empty from tusd).
func tusUploadAt(base, create, path string, chunk int64, header map[string]string) (string, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	size := fi.Size()
	req, _ := http.NewRequest("POST", create, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(filepath.Base(path))))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		return "", "", fmt.Errorf("tus create: %d", resp.StatusCode)
	}
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	if chunk <= 0 {
		chunk = size
	}
	var fileID string
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		req, _ := http.NewRequest("PATCH", loc, io.NewSectionReader(f, off, n))
		req.ContentLength = n
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", "", fmt.Errorf("tus patch: %w", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return "", "", fmt.Errorf("tus patch at %d: %d %s", off, resp.StatusCode, body)
		}
		fileID = resp.Header.Get("Coffer-File-Id")
	}
	return loc, fileID, nil
}

func (b *bench) tusDelete(url string) error {
	req, _ := http.NewRequest("DELETE", url, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("tus delete: %d", resp.StatusCode)
	}
	return nil
}

// jwksFetches counts the JWKS requests in auth's access log so far.
func (b *bench) jwksFetches() int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(b.auth.Logs()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"path":"/.well-known/jwks.json"`) {
			n++
		}
	}
	return n
}

// resetHWM and hwm reset and read a process's peak resident set (VmHWM).
func resetHWM(p *harness.Process) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.Pid()), []byte("5"), 0)
}

func hwm(p *harness.Process) int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return -1
}

// procCPU is a process's user+system CPU seconds so far (0 for nil).
func procCPU(p *harness.Process) float64 {
	if p == nil {
		return 0
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (ut + stime) / 100 // USER_HZ is 100 on Linux
}
