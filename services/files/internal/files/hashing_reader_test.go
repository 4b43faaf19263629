package files_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"testing"
	"testing/iotest"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestHashingReader: the digest of what passes through equals SHA-256 of the bytes, whatever
// the sizes of the reads and around the hasher's slot boundaries (256 KiB), and the bytes
// pass unchanged.
func TestHashingReaderSlots(t *testing.T) {
	for _, size := range []int{0, 1, 256<<10 - 1, 256 << 10, 256<<10 + 1, 1<<20 + 7} {
		data := make([]byte, size)
		rand.Read(data)
		want := sha256.Sum256(data)
		for name, r := range map[string]io.Reader{
			"one byte": iotest.OneByteReader(bytes.NewReader(data)),
			"half":     iotest.HalfReader(bytes.NewReader(data)),
			"whole":    bytes.NewReader(data),
		} {
			if name == "one byte" && size > 300<<10 {
				continue
			}
			h := sha256.New()
			hr := files.NewHashingReader(r, h)
			var out bytes.Buffer
			if _, err := io.CopyBuffer(&out, hr, make([]byte, 100<<10)); err != nil {
				t.Fatal(err)
			}
			if n := hr.Done(); n != int64(size) {
				t.Errorf("%d bytes, %s: Done = %d", size, name, n)
			}
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) || !bytes.Equal(out.Bytes(), data) {
				t.Errorf("%d bytes, %s: digest %x, want %x; bytes equal %v", size, name, got, want, bytes.Equal(out.Bytes(), data))
			}
		}
	}
}
