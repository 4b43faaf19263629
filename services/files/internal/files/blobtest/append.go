package blobtest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// AppendStore is a blob store that resumable uploads can use.
type AppendStore interface {
	files.BlobStore
	files.Appender
}

// RunAppendTests is the conformance suite of files.Appender, run against every backend.
// partSize is the backend's unit of storage (S3's part size) so the chunks cross it.
func RunAppendTests(t *testing.T, newStore func(t *testing.T) AppendStore, partSize int) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, AppendStore, int)
	}{
		{"ChunksOfEverySize", testAppendChunks},
		{"UnrecordedWriteIsDiscarded", testAppendDiscard},
		{"CompleteTwice", testAppendCompleteTwice},
		{"Abort", testAppendAbort},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t), partSize) })
	}
}

// appendAll appends chunks in turn, recording each state, and returns the last.
func appendAll(t *testing.T, s AppendStore, key string, state []byte, offset int64, chunks ...[]byte) ([]byte, int64) {
	t.Helper()
	for _, c := range chunks {
		n, st, err := s.Append(ctxT(t), key, state, offset, onlyReader{bytes.NewReader(c)})
		if err != nil || n != int64(len(c)) {
			t.Fatalf("Append %d bytes at %d: %d, %v", len(c), offset, n, err)
		}
		state, offset = st, offset+n
	}
	return state, offset
}

func testAppendChunks(t *testing.T, s AppendStore, part int) {
	key := newKey()
	data := randomBytes(3*part+part/2+7, 11)
	// Less than a part, then across two parts, a single byte, an empty request, the rest.
	cuts := []int{part / 3, part/3 + part + part/2, part/3 + part + part/2 + 1, part/3 + part + part/2 + 1}
	var chunks [][]byte
	prev := 0
	for _, c := range cuts {
		chunks = append(chunks, data[prev:c])
		prev = c
	}
	chunks = append(chunks, data[prev:])
	state, off := appendAll(t, s, key, nil, 0, chunks...)
	if off != int64(len(data)) {
		t.Fatalf("offset %d, want %d", off, len(data))
	}
	if _, err := s.Open(ctxT(t), key); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("Open before completion: %v, want ErrNotFound", err)
	}
	if l, ok := s.(files.BlobLister); ok {
		err := l.ListBlobs(ctxT(t), time.Now().Add(time.Hour), func(bi files.BlobInfo) error {
			t.Errorf("ListBlobs shows %q before completion", bi.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CompleteAppend(ctxT(t), key, state, off); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, key); !bytes.Equal(got, data) {
		t.Fatalf("completed blob differs: %d bytes, want %d", len(got), len(data))
	}
	if l, ok := s.(files.BlobLister); ok {
		var keys []string
		if err := l.ListBlobs(ctxT(t), time.Now().Add(time.Hour), func(bi files.BlobInfo) error {
			keys = append(keys, bi.Key)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0] != key {
			t.Fatalf("ListBlobs after completion = %q, want only the blob", keys)
		}
	}
}

func testAppendDiscard(t *testing.T, s AppendStore, part int) {
	key := newKey()
	a, b, c := randomBytes(part+10, 1), randomBytes(part/2, 2), randomBytes(part/4, 3)
	state, off := appendAll(t, s, key, nil, 0, a)
	if _, _, err := s.Append(ctxT(t), key, state, off, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	// b's write is never recorded: the next write starts from a's state again.
	state, off = appendAll(t, s, key, state, off, c)
	if err := s.CompleteAppend(ctxT(t), key, state, off); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, s, key), append(append([]byte{}, a...), c...); !bytes.Equal(got, want) {
		t.Fatalf("blob holds %d bytes, want %d (a then c)", len(got), len(want))
	}
}

func testAppendCompleteTwice(t *testing.T, s AppendStore, part int) {
	key := newKey()
	data := randomBytes(part/2, 4)
	state, off := appendAll(t, s, key, nil, 0, data)
	for i := range 2 {
		if err := s.CompleteAppend(ctxT(t), key, state, off); err != nil {
			t.Fatalf("CompleteAppend #%d: %v", i+1, err)
		}
	}
	if got := readAll(t, s, key); !bytes.Equal(got, data) {
		t.Fatal("blob differs")
	}
}

func testAppendAbort(t *testing.T, s AppendStore, part int) {
	key := newKey()
	state, _ := appendAll(t, s, key, nil, 0, randomBytes(part+1, 5))
	if err := s.AbortAppend(ctxT(t), key, state); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortAppend(ctxT(t), key, state); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	if err := s.CompleteAppend(ctxT(t), key, state, int64(part+1)); err == nil {
		t.Fatal("an aborted upload completed")
	}
	if _, err := s.Open(context.Background(), key); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("Open after abort: %v", err)
	}
	// A completed blob whose row was never written goes too.
	key = newKey()
	state, off := appendAll(t, s, key, nil, 0, randomBytes(100, 6))
	if err := s.CompleteAppend(ctxT(t), key, state, off); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortAppend(ctxT(t), key, state); err != nil {
		t.Fatal(err)
	}
	requireGone(t, s, key)
}
