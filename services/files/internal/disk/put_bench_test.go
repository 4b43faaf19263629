package disk_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
)

// BenchmarkPutDurable compares a durable Put (temporary file, fdatasync, rename, directory
// sync) with and without early writeback against its baseline, the durable-write limit of
// the disk: `dd bs=1M conv=fsync` done in Go (1 MiB writes, one fsync at the end) into the
// same folder. The figure to read is the ratio of MB/s between writeback=8MiB and dd.
func BenchmarkPutDurable(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	b.Run("baseline=dd-conv-fsync", func(b *testing.B) {
		b.SetBytes(size)
		buf := make([]byte, 1<<20)
		for b.Loop() {
			p := filepath.Join(dir, "dd.bin")
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(struct{ io.Writer }{f}, blobtest.NewPatternReader(size), buf); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			b.StopTimer()
			os.Remove(p)
			b.StartTimer()
		}
	})
	for _, window := range []int64{0, disk.DefaultWriteback} {
		b.Run(fmt.Sprintf("writeback=%dMiB", window>>20), func(b *testing.B) {
			s, err := disk.New(dir)
			if err != nil {
				b.Fatal(err)
			}
			s.SetWriteback(window)
			b.SetBytes(size)
			for b.Loop() {
				key := uuid.NewString()
				if _, err := s.Put(b.Context(), key, blobtest.NewPatternReader(size)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Delete(b.Context(), key)
				b.StartTimer()
			}
		})
	}
}
