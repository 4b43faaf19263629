package blobtest

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"
)

// PeakMemory runs fn and reports, as custom benchmark metrics, the peak live heap above the
// level before fn ("peak-heap-B", sampled every millisecond) and the process's peak resident
// set ("peak-RSS-B", VmHWM, reset before fn where the kernel allows). Benchmarks of uploads of
// different sizes use it to show memory does not grow with the size.
func PeakMemory(b *testing.B, fn func()) {
	b.Helper()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	resetHWM := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	if peak > base {
		b.ReportMetric(float64(peak-base), "peak-heap-B")
	} else {
		b.ReportMetric(0, "peak-heap-B")
	}
	if resetHWM {
		if hwm, ok := vmHWM(); ok {
			b.ReportMetric(float64(hwm), "peak-RSS-B")
		}
	}
}

// vmHWM reads the peak resident set size of this process from /proc/self/status.
func vmHWM() (uint64, bool) {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range bytes.Split(st, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			kb, err := strconv.ParseUint(string(f[0]), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// NewPatternReader returns a reader of n bytes of a fixed pattern that costs little CPU and
// no memory per byte: a stand-in for a request body in benchmarks. It has only Read.
func NewPatternReader(n int64) io.Reader { return &fastPattern{left: n} }

type fastPattern struct {
	left int64
	off  int
}

var pattern = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}()

func (p *fastPattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		c := copy(b[n:], pattern[p.off:])
		n += c
		p.off = (p.off + c) % len(pattern)
	}
	p.left -= int64(n)
	return n, nil
}
