package e2e_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkDownload4KiBAudit compares 4 KiB authenticated GETs on two file nodes of one stack
// in the same run: one records every download in the audit log (batched off the request
// path), the other has auditing off (COFFER_FILES_AUDIT=false). The ratio of their ns/op is
// the figure; nothing is asserted.
func BenchmarkDownload4KiBAudit(b *testing.B) {
	s := startStack(b, stackOptions{})
	off := s.StartFiles(map[string]string{"COFFER_FILES_AUDIT": "false", "COFFER_FILES_DATA_DIR": b.TempDir()})
	c := s.client()
	u := c.newUser("bench", "")
	for _, tc := range []struct {
		name, url string
	}{{"audit=on", s.Files[0].URL}, {"audit=off", off.URL}} {
		c.files = tc.url
		f := c.upload(u.Token, "4k.bin", bytes.Repeat([]byte("x"), 4096))
		url := tc.url + "/v1/files/" + f.ID + "/content"
		b.Run(tc.name, func(b *testing.B) {
			benchGETs(b, c.http, url, u.Token, 4096)
		})
	}
}

// benchGETs has b's parallel goroutines GET url with token until b is done, each answer read
// whole and checked to be 200; size is the bytes of one answer, for MB/s.
func benchGETs(b *testing.B, c *http.Client, url, token string, size int64) {
	b.SetBytes(size)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
