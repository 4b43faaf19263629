package files

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"testing"
	"testing/iotest"
)

// TestParallelHash: the digest is that of every byte read, whatever the read sizes, even when
// the caller overwrites its buffer straight after each Read (the hasher works on its own copy).
func TestParallelHash(t *testing.T) {
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	for _, tc := range []struct {
		name string
		src  []byte
		wrap func(io.Reader) io.Reader
		buf  int
	}{
		{"large reads", data, nil, 128 << 10},
		{"one byte reads", data[:64<<10], iotest.OneByteReader, 128 << 10},
		{"half reads", data, iotest.HalfReader, 4096},
		{"empty", nil, nil, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			var r io.Reader = bytes.NewReader(src)
			if tc.wrap != nil {
				r = tc.wrap(r)
			}
			want := sha256.Sum256(src)
			p := newParallelHash(r, sha256.New())
			buf := make([]byte, tc.buf)
			var got bytes.Buffer
			for {
				n, err := p.Read(buf)
				got.Write(buf[:n])
				for i := range buf[:n] {
					buf[i] = 0xAA // the caller reuses its buffer at once
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), src) {
				t.Fatal("bytes read differ from the source")
			}
			if sum := p.Sum(); !bytes.Equal(sum, want[:]) {
				t.Fatalf("digest %x, want %x", sum, want)
			}
			if sum := p.Sum(); !bytes.Equal(sum, want[:]) {
				t.Fatal("a second Sum differs")
			}
		})
	}
}
