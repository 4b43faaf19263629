package s3_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/s3"
)

// connRanger is what the file service asks of a blob it can splice (api.connRanger).
type connRanger interface {
	ConnRange(n int64) (head []byte, rest *io.LimitedReader, release func(), err error)
}

// TestConnRange: a range of an object on a plain-HTTP endpoint comes as the bytes read with
// the headers and the TCP connection the rest arrives on, which holds exactly the range's
// bytes; the blob moves past them; a range past the end is refused and leaves the blob
// readable; a deleted object is not found.
func TestConnRange(t *testing.T) {
	srv := s3test.Start(t)
	s := newStore(t, srv, "")
	ctx := t.Context()
	data := make([]byte, 3<<20+17)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	key := uuid.NewString()
	if _, err := s.Put(ctx, key, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	read := func(off, n int64) []byte {
		t.Helper()
		b, err := s.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := b.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		head, rest, release, err := b.(connRanger).ConnRange(n)
		if err != nil {
			t.Fatalf("ConnRange(%d) at %d: %v", n, off, err)
		}
		defer release()
		if _, ok := rest.R.(*net.TCPConn); !ok {
			t.Fatalf("rest reads a %T, want a *net.TCPConn", rest.R)
		}
		got, err := io.ReadAll(io.MultiReader(bytes.NewReader(head), rest))
		if err != nil {
			t.Fatal(err)
		}
		if pos, err := b.Seek(0, io.SeekCurrent); err != nil || pos != off+n {
			t.Errorf("position after ConnRange(%d) at %d: %d, %v", n, off, pos, err)
		}
		return got
	}
	for _, c := range []struct{ off, n int64 }{{0, int64(len(data))}, {1, 1}, {12345, 2 << 20}, {int64(len(data)) - 5, 5}} {
		if got := read(c.off, c.n); !bytes.Equal(got, data[c.off:c.off+c.n]) {
			t.Errorf("range %d+%d: %d bytes, not the object's", c.off, c.n, len(got))
		}
	}

	b, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, _, _, err := b.(connRanger).ConnRange(int64(len(data)) + 1); !errors.Is(err, s3.ErrNoConn) {
		t.Errorf("a range past the end: %v, want ErrNoConn", err)
	}
	if got := make([]byte, 10); func() error { _, err := io.ReadFull(b, got); return err }() != nil || !bytes.Equal(got, data[:10]) {
		t.Errorf("the blob after a refused ConnRange: %q, want the object's first bytes", got)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := b.(connRanger).ConnRange(10); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("a deleted object: %v, want ErrNotFound", err)
	}

}
