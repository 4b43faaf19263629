package files

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"testing"
)

// patternReader yields left bytes copied from a 1 MiB pattern, standing in for a request body
// at little CPU cost.
type patternReader struct {
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

func (p *patternReader) Read(b []byte) (int, error) {
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

// writerOnly hides *os.File's ReadFrom, as the disk store does.
type writerOnly struct{ io.Writer }

// BenchmarkHashCopy compares hashing in series with the copy (io.Copy through a MultiWriter)
// against the parallel hash reader, writing to io.Discard and to a real file, at several
// buffer sizes. It is what the disk store's buffer size was chosen from.
func BenchmarkHashCopy(b *testing.B) {
	const size = 128 << 20
	for _, sink := range []string{"discard", "file"} {
		for _, mode := range []string{"serial", "parallel"} {
			for _, bufSize := range []int{32 << 10, 64 << 10, 128 << 10, 256 << 10, 1 << 20} {
				b.Run(fmt.Sprintf("%s/%s/buf=%dK", sink, mode, bufSize>>10), func(b *testing.B) {
					b.SetBytes(size)
					buf := make([]byte, bufSize)
					var w io.Writer = io.Discard
					var f *os.File
					if sink == "file" {
						var err error
						if f, err = os.CreateTemp(b.TempDir(), "bench-"); err != nil {
							b.Fatal(err)
						}
						defer f.Close()
						w = writerOnly{f}
					}
					for b.Loop() {
						if f != nil {
							f.Truncate(0)
							f.Seek(0, io.SeekStart)
						}
						copyHashed(b, mode, w, buf)
					}
				})
			}
		}
	}
}

func copyHashed(b *testing.B, mode string, w io.Writer, buf []byte) {
	h := sha256.New()
	r := &patternReader{left: 128 << 20}
	var err error
	if mode == "serial" {
		_, err = io.CopyBuffer(io.MultiWriter(w, h), r, buf)
	} else {
		ph := newParallelHash(r, h)
		_, err = io.CopyBuffer(w, ph, buf)
		ph.Sum()
	}
	if err != nil {
		b.Fatal(err)
	}
}
