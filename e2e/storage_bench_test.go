package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/cofferhq/coffer/e2e/harness"
)

// BenchmarkNodeUpload streams uploads of growing size to a real file node (disk or S3 via
// versitygw) and reports the node's peak resident set during them (VmHWM, reset before each
// size): it stays flat as the size grows eightfold.
func BenchmarkNodeUpload(b *testing.B) {
	for _, name := range []string{"disk", "s3"} {
		b.Run(name, func(b *testing.B) {
			be := backends[name](b)
			s := startStack(b, stackOptions{FilesEnv: be.env, MaxFileSize: "2G"})
			c := s.client()
			tok := c.signUp("bench")
			node := s.Files[0]
			for _, size := range []int64{128 << 20, 1 << 30} {
				b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
					b.SetBytes(size)
					if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", node.Pid()), []byte("5"), 0); err != nil {
						b.Fatalf("reset the node's VmHWM: %v", err)
					}
					for b.Loop() {
						id := streamUpload(b, c, node, tok, size)
						b.StopTimer()
						if r := c.do("DELETE", node.URL+"/v1/files/"+id, nil, bearer(tok)); r.Status != http.StatusNoContent {
							b.Fatalf("delete: %d", r.Status)
						}
						b.StartTimer()
					}
					b.ReportMetric(float64(nodeHWM(b, node.Pid())), "node-peak-RSS-B")
				})
			}
		})
	}
}

func streamUpload(b *testing.B, c *client, node *harness.Process, tok string, size int64) string {
	req, err := http.NewRequest("POST", node.URL+"/v1/files?name=big.bin", io.LimitReader(zeroReader{}, size))
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var f fileJSON
	if err := json.Unmarshal(body, &f); err != nil || f.Size != size {
		b.Fatalf("upload answer %s: %v", body, err)
	}
	return f.ID
}

// nodeHWM reads a process's peak resident set size in bytes.
func nodeHWM(b *testing.B, pid int) int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range bytes.Split(st, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			if f := bytes.Fields(rest); len(f) > 0 {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	b.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
