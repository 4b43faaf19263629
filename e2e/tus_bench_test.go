package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkTusVsDirect uploads the same 1 GiB to one file node (disk) three ways in every
// round, in turn (starting with a different one each round): a direct POST /v1/files, tus in 8 MiB PATCHes, tus in 64 MiB PATCHes. It
// reports each one's throughput, tus's as a ratio of the direct upload's in the same round, and
// the time from the last byte sent to the completing response (no pass over the bytes: it
// should not grow with the size). Not in make test:
//
//	go test -run '^$' -bench BenchmarkTusVsDirect -benchtime 3x ./e2e/
func BenchmarkTusVsDirect(b *testing.B) {
	const size = 1 << 30
	s := startStack(b, stackOptions{MaxFileSize: "2G"})
	c := s.client()
	c.http.Timeout = 10 * time.Minute
	alice := c.newUser("bench", "")
	node := s.Files[0].URL
	var direct, tus8, tus64 time.Duration
	var finDirect, fin8, fin64 time.Duration
	ways := []func(){
		func() {
			d, fd, id := benchDirect(b, c, node, alice.Token, size)
			direct, finDirect = direct+d, finDirect+fd
			c.do("DELETE", node+"/v1/files/"+id, nil, bearer(alice.Token))
		},
		func() {
			d, fd, id := benchTus(b, c, node, alice.Token, size, 8<<20)
			tus8, fin8 = tus8+d, fin8+fd
			c.do("DELETE", node+"/v1/files/"+id, nil, bearer(alice.Token))
		},
		func() {
			d, fd, id := benchTus(b, c, node, alice.Token, size, 64<<20)
			tus64, fin64 = tus64+d, fin64+fd
			c.do("DELETE", node+"/v1/files/"+id, nil, bearer(alice.Token))
		},
	}
	round := 0
	for b.Loop() {
		for i := range ways { // a different one first each round: no way always follows another
			ways[(round+i)%len(ways)]()
		}
		round++
	}
	n := float64(b.N)
	mbps := func(d time.Duration) float64 { return n * size / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(direct), "direct-MB/s")
	b.ReportMetric(mbps(tus8), "tus8MiB-MB/s")
	b.ReportMetric(mbps(tus64), "tus64MiB-MB/s")
	b.ReportMetric(direct.Seconds()/tus8.Seconds(), "tus8MiB/direct")
	b.ReportMetric(direct.Seconds()/tus64.Seconds(), "tus64MiB/direct")
	b.ReportMetric(float64(finDirect.Milliseconds())/n, "direct-finish-ms")
	b.ReportMetric(float64(fin8.Milliseconds())/n, "tus8MiB-finish-ms")
	b.ReportMetric(float64(fin64.Milliseconds())/n, "tus64MiB-finish-ms")
}

// lastByte is a body of n zero bytes that notes when it hands out its end.
type lastByte struct {
	r   io.Reader
	eof time.Time
}

func (l *lastByte) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err == io.EOF && l.eof.IsZero() {
		l.eof = time.Now()
	}
	return n, err
}

func benchSend(b *testing.B, method, url string, n int64, h map[string]string) (*http.Response, time.Duration) {
	body := &lastByte{r: io.LimitReader(zeroReader{}, n)}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = n
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		b.Fatal(err)
	}
	done := time.Now()
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if body.eof.IsZero() {
		body.eof = done
	}
	return resp, done.Sub(body.eof)
}

func benchDirect(b *testing.B, c *client, node, tok string, size int64) (time.Duration, time.Duration, string) {
	start := time.Now()
	resp, fin := benchSend(b, "POST", node+"/v1/files?name=direct.bin", size, map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/octet-stream"})
	d := time.Since(start)
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("direct upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	return d, fin, loc[strings.LastIndexByte(loc, '/')+1:]
}

func benchTus(b *testing.B, c *client, node, tok string, size, chunk int64) (time.Duration, time.Duration, string) {
	start := time.Now()
	path, r := c.tus(tok).create(node, size, "tus.bin", nil)
	if r.Status != http.StatusCreated {
		b.Fatalf("create: %d", r.Status)
	}
	var fin time.Duration
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		resp, f := benchSend(b, "PATCH", node+path, n, tusHeaders(tok, map[string]string{
			"Upload-Offset": strconv.FormatInt(off, 10), "Content-Type": "application/offset+octet-stream"}))
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("PATCH at %d: %d", off, resp.StatusCode)
		}
		fin = f
	}
	d := time.Since(start)
	if testing.Verbose() {
		fmt.Printf("tus %d MiB PATCHes: %v, last byte to response %v\n", chunk>>20, d, fin)
	}
	return d, fin, strings.TrimPrefix(path, "/v1/uploads/")
}
