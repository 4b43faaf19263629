package s3_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

// BenchmarkPut streams non-seekable bodies of growing size into versitygw through the
// multipart uploader. peak-heap-B stays near PartSize × (Concurrency + 1) whatever the size.
func BenchmarkPut(b *testing.B) {
	srv := s3test.Start(b)
	store, err := s3.New(s3.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int64{64 << 20, 512 << 20} {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			blobtest.PeakMemory(b, func() {
				for b.Loop() {
					key := uuid.NewString()
					if _, err := store.Put(b.Context(), key, blobtest.NewPatternReader(size)); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := store.Delete(b.Context(), key); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		})
	}
}
