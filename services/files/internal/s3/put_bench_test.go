package s3_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

// BenchmarkPut streams non-seekable bodies of growing size into versitygw through the
// multipart uploader. peak-heap-B stays near PartSize × (Concurrency + 1) whatever the size.
// Its baseline is BenchmarkPutBaseline.
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

// BenchmarkPutBaseline is BenchmarkPut's reference: the same bodies sent to the same versitygw
// as one plain PUT to a presigned URL (streamed, with Content-Length), no multipart, no store.
// The ratio of the two MB/s is what the store's multipart upload costs.
func BenchmarkPutBaseline(b *testing.B) {
	srv := s3test.Start(b)
	presign := awss3.NewPresignClient(srv.Client())
	for _, size := range []int64{64 << 20, 512 << 20} {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				key := uuid.NewString()
				u, err := presign.PresignPutObject(b.Context(), &awss3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
				if err != nil {
					b.Fatal(err)
				}
				req, err := http.NewRequestWithContext(b.Context(), "PUT", u.URL, blobtest.NewPatternReader(size))
				if err != nil {
					b.Fatal(err)
				}
				req.ContentLength = size
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("PUT: %d", resp.StatusCode)
				}
				b.StopTimer()
				if _, err := srv.Client().DeleteObject(b.Context(), &awss3.DeleteObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
