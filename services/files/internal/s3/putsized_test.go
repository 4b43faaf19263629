package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestPutSized: a body of declared size is stored in one streamed PutObject (a non-seekable
// reader, over plain http, as a request body is) and reads back byte for byte; a body shorter
// or longer than declared fails and leaves no object.
func TestPutSized(t *testing.T) {
	srv := s3test.Start(t)
	s := newStore(t, srv, "")
	ctx := context.Background()
	data := make([]byte, 7<<20+3) // more than a part: still one request
	rand.Read(data)
	onlyReader := func(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }

	key := uuid.NewString()
	n, err := s.PutSized(ctx, key, onlyReader(data), int64(len(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("PutSized: %d, %v", n, err)
	}
	b, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	b.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v, equal %v", err, bytes.Equal(got, data))
	}

	for name, tc := range map[string]struct {
		body []byte
		size int64
	}{
		"shorter": {data[:1000], 2000},
		"longer":  {data[:3000], 2000},
	} {
		k := uuid.NewString()
		if _, err := s.PutSized(ctx, k, onlyReader(tc.body), tc.size); err == nil {
			t.Errorf("%s body: PutSized succeeded", name)
		}
		if _, err := s.Open(ctx, k); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("%s body: Open after the failed put = %v, want ErrNotFound", name, err)
		}
	}
}
