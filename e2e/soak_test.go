//go:build soak

package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/harness"
)

// TestSoak (make soak; build tag soak, not part of make test) drives mixed traffic at a file
// node for COFFER_SOAK_DURATION (default 3m) and reports errors, memory (VmRSS, VmHWM),
// threads, open files and goroutines at start and end. Goroutines are counted from the
// runtime's SIGQUIT dump, taken at the start from a twin node that had the same warm-up, and
// at the end from the soaked node itself once its clients have gone idle.
func TestSoak(t *testing.T) {
	dur := 3 * time.Minute
	if v := os.Getenv("COFFER_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("COFFER_SOAK_DURATION: %v", err)
		}
		dur = d
	}
	s := startStack(t, stackOptions{MaxFileSize: "4M"})
	c := s.client()
	dataDir := t.TempDir()
	var nodes []*harness.Process
	for _, name := range []string{"files-soak", "files-twin"} {
		addr := freeAddr(t)
		p := startProc(t, name, bins.Files, addr, filesEnv(s, addr, dataDir, nil))
		waitReady(t, p, 30*time.Second)
		nodes = append(nodes, p)
	}
	node, twin := nodes[0], nodes[1]
	var users []string
	for i := range 4 {
		users = append(users, c.signUp(fmt.Sprintf("soak-%d", i)))
	}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

	var requests, errors atomic.Int64
	var errMu sync.Mutex
	errSamples := map[string]int{}
	fail := func(what string) {
		errors.Add(1)
		errMu.Lock()
		errSamples[what]++
		errMu.Unlock()
	}
	run := func(target *harness.Process, until time.Time, workers int) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok := users[w%len(users)]
				var mine []fileJSON
				for time.Now().Before(until) {
					requests.Add(1)
					op := randInt(100)
					switch {
					case op < 30 || len(mine) == 0:
						data := make([]byte, 1+randInt(512<<10))
						rand.Read(data)
						req, _ := http.NewRequest("POST", target.URL+"/v1/files?name=soak.bin", bytes.NewReader(data))
						req.Header.Set("Authorization", "Bearer "+tok)
						f, status, err := doJSON[fileJSON](hc, req)
						if err != nil || status != 201 {
							fail(fmt.Sprintf("upload: %d %v", status, err))
							continue
						}
						mine = append(mine, f)
					case op < 55:
						f := mine[randInt(len(mine))]
						n, status, err := fetch(hc, "GET", target.URL+"/v1/files/"+f.ID+"/content", tok, "")
						if err != nil || status != 200 || n != f.Size {
							fail(fmt.Sprintf("download: %d %v", status, err))
						}
					case op < 65:
						f := mine[randInt(len(mine))]
						_, status, err := fetch(hc, "GET", target.URL+"/v1/files/"+f.ID+"/content", tok, "bytes=0-0")
						if err != nil || status != 206 {
							fail(fmt.Sprintf("range: %d %v", status, err))
						}
					case op < 75:
						f := mine[randInt(len(mine))]
						_, status, err := fetch(hc, "HEAD", target.URL+"/v1/files/"+f.ID, tok, "")
						if err != nil || status != 200 {
							fail(fmt.Sprintf("head: %d %v", status, err))
						}
					case op < 85:
						_, status, err := fetch(hc, "GET", target.URL+"/v1/files?limit=50", tok, "")
						if err != nil || status != 200 {
							fail(fmt.Sprintf("list: %d %v", status, err))
						}
					case op < 95:
						i := randInt(len(mine))
						_, status, err := fetch(hc, "DELETE", target.URL+"/v1/files/"+mine[i].ID, tok, "")
						if err != nil || status != 204 {
							fail(fmt.Sprintf("delete: %d %v", status, err))
						}
						mine = append(mine[:i], mine[i+1:]...)
					default:
						forged := tok[:len(tok)-4] + "AAAA"
						_, status, err := fetch(hc, "GET", target.URL+"/v1/files", forged, "")
						if err != nil || status != 401 {
							fail(fmt.Sprintf("forged: %d %v", status, err))
						}
					}
				}
			}()
		}
		wg.Wait()
	}

	// Warm both nodes the same way, then take the twin's goroutine count as the baseline.
	warm := 10 * time.Second
	run(node, time.Now().Add(warm), 4)
	run(twin, time.Now().Add(warm), 4)
	hc.CloseIdleConnections()
	startG := goroutinesAtExit(t, twin)
	type sample struct {
		rss, hwm int64
		fds, thr int
	}
	snap := func() sample {
		return sample{procStatusKB(t, node.Pid(), "VmRSS"), procStatusKB(t, node.Pid(), "VmHWM"), openFDs(t, node.Pid()), int(procStatusKB(t, node.Pid(), "Threads"))}
	}
	start := snap()
	requests.Store(0)
	t.Logf("start: VmRSS %d KiB, VmHWM %d KiB, fds %d, threads %d, goroutines %d (twin, after warm-up)", start.rss, start.hwm, start.fds, start.thr, startG)

	until := time.Now().Add(dur)
	done := make(chan struct{})
	go func() { run(node, until, 8); close(done) }()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			m := snap()
			t.Logf("%v: %d requests, %d errors, VmRSS %d KiB, VmHWM %d KiB, fds %d, threads %d",
				time.Until(until).Round(time.Second), requests.Load(), errors.Load(), m.rss, m.hwm, m.fds, m.thr)
		}
	}
	hc.CloseIdleConnections()
	time.Sleep(time.Second) // let the server notice closed keep-alive connections (measurement, not sync)
	end := snap()
	endG := goroutinesAtExit(t, node)
	t.Logf("end:   VmRSS %d KiB, VmHWM %d KiB, fds %d, threads %d, goroutines %d; %d requests in %v, %d errors",
		end.rss, end.hwm, end.fds, end.thr, endG, requests.Load(), dur, errors.Load())
	for k, n := range errSamples {
		t.Errorf("%d × %s", n, k)
	}
	if end.fds > start.fds+16 {
		t.Errorf("open files grew from %d to %d", start.fds, end.fds)
	}
	if endG > startG+32 {
		t.Errorf("goroutines grew from %d to %d", startG, endG)
	}
	if end.rss > 2*start.rss+64<<10 {
		t.Errorf("VmRSS grew from %d KiB to %d KiB", start.rss, end.rss)
	}
}

var goroutineHeader = regexp.MustCompile(`(?m)^goroutine [1-9]\d* `)

// goroutinesAtExit sends SIGQUIT, which makes the Go runtime print every goroutine and exit,
// and counts them (goroutine 0, the scheduler, excluded). Headers look like
// "goroutine 7 gp=0x... m=nil [select]:".
func goroutinesAtExit(t testing.TB, p *harness.Process) int {
	t.Helper()
	if err := p.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGQUIT")
	}
	return len(goroutineHeader.FindAllStringIndex(p.Logs(), -1))
}

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

func fetch(hc *http.Client, method, url, tok, rng string) (int64, int, error) {
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return n, resp.StatusCode, err
}

func doJSON[T any](hc *http.Client, req *http.Request) (T, int, error) {
	var v T
	resp, err := hc.Do(req)
	if err != nil {
		return v, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return v, resp.StatusCode, err
	}
	if resp.StatusCode < 300 {
		err = json.Unmarshal(b, &v)
	} else {
		err = fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	return v, resp.StatusCode, err
}
