package s3_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"

	"testing"

	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

func newStore(t *testing.T, srv *s3test.Server, prefix string) *s3.Store {
	t.Helper()
	s, err := s3.New(s3.Config{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t), Prefix: prefix,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	blobtest.RunTests(t, func(t *testing.T) files.BlobStore { return newStore(t, srv, "") }, blobtest.Options{})
}

func TestConformanceWithPrefix(t *testing.T) {
	srv := s3test.Start(t)
	blobtest.RunTests(t, func(t *testing.T) files.BlobStore { return newStore(t, srv, "coffer/blobs") }, blobtest.Options{LargeSize: 6 << 20})
}

// TestUnavailable: a refused connection or a server that never answers is
// files.ErrUnavailable (503), for writes and reads alike, within bounded time.
func TestUnavailable(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // accept and never answer
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	for name, endpoint := range map[string]string{"refused": "http://" + refusedAddr, "silent": "http://" + silent.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			s, err := s3.New(s3.Config{Endpoint: endpoint, Bucket: "b", AccessKey: "k", SecretKey: "s", Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if _, err := s.Put(ctx, uuid.NewString(), strings.NewReader("hello")); !errors.Is(err, files.ErrUnavailable) {
				t.Errorf("Put: err = %v, want ErrUnavailable", err)
			}
			if _, err := s.Put(ctx, uuid.NewString(), io.LimitReader(zeros{}, 12<<20)); !errors.Is(err, files.ErrUnavailable) {
				t.Errorf("multipart Put: err = %v, want ErrUnavailable", err)
			}
			if _, err := s.Open(ctx, uuid.NewString()); !errors.Is(err, files.ErrUnavailable) {
				t.Errorf("Open: err = %v, want ErrUnavailable", err)
			}
			if err := s.Delete(ctx, uuid.NewString()); !errors.Is(err, files.ErrUnavailable) {
				t.Errorf("Delete: err = %v, want ErrUnavailable", err)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestTooLargePassesThrough: the body's own error, such as the service's size limit, is what
// Put returns, so the API can answer 413 rather than 503.
func TestBodyErrorPassesThrough(t *testing.T) {
	srv := s3test.Start(t)
	s := newStore(t, srv, "")
	for _, size := range []int64{100, 12 << 20} {
		_, err := s.Put(t.Context(), uuid.NewString(), io.MultiReader(io.LimitReader(zeros{}, size), errReader{files.ErrTooLarge}))
		if !errors.Is(err, files.ErrTooLarge) || errors.Is(err, files.ErrUnavailable) {
			t.Fatalf("size %d: err = %v, want ErrTooLarge only", size, err)
		}
	}
	ups, err := srv.MultipartUploads(t.Context(), srv.Bucket)
	if err != nil || len(ups) != 0 {
		t.Fatalf("multipart uploads left: %v, %v", ups, err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
