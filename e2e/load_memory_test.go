package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// TestParallelUploadsMemoryBounded: memory grows with the number of streams, not their size.
// Eight 64 MiB uploads at once (512 MiB in all) must leave the file node's peak resident set
// under 64 MiB plus 1 MiB per stream (docs/PERFORMANCE.md's goal), which holds only if every
// upload streams through a fixed buffer.
func TestParallelUploadsMemoryBounded(t *testing.T) {
	const streams, size = 8, 64 << 20
	s := startStack(t, stackOptions{})
	c := s.client()
	tok := c.signUp("loader")
	pid := s.Files[0].Pid()

	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/files?name=load-%d.bin", c.files, i), io.LimitReader(zeros{}, size))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("upload %d: status %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := c.listCount(tok); got != streams {
		t.Fatalf("%d files listed, want %d", got, streams)
	}
	hwm := procStatusKB(t, pid, "VmHWM")
	limit := int64(64<<10 + streams<<10) // KiB
	t.Logf("file node peak RSS after %d parallel %d MiB uploads: %d KiB (limit %d KiB)", streams, size>>20, hwm, limit)
	if hwm > limit {
		t.Fatalf("peak RSS %d KiB exceeds %d KiB: memory grows with upload size", hwm, limit)
	}
}
