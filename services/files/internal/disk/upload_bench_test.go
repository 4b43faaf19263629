package disk_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/pgtest"
	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
)

// BenchmarkServiceUpload streams uploads of growing size through the Service (SHA-256,
// disk write, fsync, rename, metadata commit in PostgreSQL). B/op, peak-heap-B and peak-RSS-B
// stay flat from 64 MiB to 512 MiB: memory does not grow with the file.
func BenchmarkServiceUpload(b *testing.B) {
	pool, err := pgxpool.New(b.Context(), pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.Migrate(b.Context(), pool); err != nil {
		b.Fatal(err)
	}
	store, err := disk.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	svc := files.NewService(postgres.New(pool), store, files.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, size := range []int64{64 << 20, 512 << 20} {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			blobtest.PeakMemory(b, func() {
				for b.Loop() {
					f, err := svc.Upload(b.Context(), files.UploadRequest{OwnerID: "bench", Name: "big.bin", Body: blobtest.NewPatternReader(size)})
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := svc.Delete(b.Context(), "bench", f.ID); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		})
	}
}
