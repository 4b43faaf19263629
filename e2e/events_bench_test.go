package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// BenchmarkEventsOverhead compares, in the same run, a stack with events delivered to a
// webhook, a pre-create hook and a real clamd scanning every file against a stack with none:
// 1 MiB uploads one after another, and 4 KiB GETs of an available file in parallel. It also
// reports the delivery rate: events per second from the first of 300 uploads to the last
// delivery. Nothing is asserted.
func BenchmarkEventsOverhead(b *testing.B) {
	cd := startClamd(b)
	rc := newHookReceiver(b, 0, 0)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); w.WriteHeader(204) }))
	defer hs.Close()
	full := startStack(b, stackOptions{FilesEnv: eventsEnv(map[string]string{
		"COFFER_FILES_CLAMD_ADDR":          "unix:" + cd.Sock,
		"COFFER_FILES_HOOK_PRE_CREATE_URL": hs.URL,
		"COFFER_FILES_HOOK_SECRET":         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	})})
	full.subscribe(rc.URL)
	none := startStack(b, stackOptions{})
	for _, tc := range []struct {
		name string
		s    *stack
	}{{"events+webhook+hook+clamd", full}, {"none", none}} {
		c := tc.s.client()
		u := c.newUser("bench", "")
		body := bytes.Repeat([]byte("u"), 1<<20)
		b.Run("upload-1MiB/"+tc.name, func(b *testing.B) {
			b.SetBytes(1 << 20)
			for b.Loop() {
				req, _ := http.NewRequest("POST", c.files+"/v1/files?name=bench.bin", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+u.Token)
				resp, err := c.http.Do(req)
				if err != nil || resp.StatusCode != http.StatusCreated {
					b.Fatalf("upload: %v %v", err, resp)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		f := c.upload(u.Token, "4k.bin", bytes.Repeat([]byte("x"), 4096))
		if tc.s == full {
			c.awaitStatus(u.Token, f.ID, "available")
		}
		url := c.files + "/v1/files/" + f.ID + "/content"
		b.Run("get-4KiB/"+tc.name, func(b *testing.B) {
			benchGETs(b, c.http, url, u.Token, 4096)
		})
	}
	b.Run("delivery", func(b *testing.B) {
		c := full.client()
		u := c.newUser("deliver", "")
		seen, _ := rc.events()
		before := len(seen)
		start := time.Now()
		const n = 300
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 8 {
					c.upload(u.Token, fmt.Sprintf("d%d.txt", i), []byte("d"))
				}
			}()
		}
		wg.Wait()
		// Each upload emits file.created; the scan adds nothing (clean files).
		deadline := time.Now().Add(5 * time.Minute)
		for {
			got, _ := rc.events()
			if len(got) >= before+n || time.Now().After(deadline) {
				b.ReportMetric(float64(len(got)-before)/time.Since(start).Seconds(), "events/s")
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
