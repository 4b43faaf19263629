// Package blobtest is the conformance suite for files.BlobStore: every backend (disk, s3) runs
// the same tests, so the service can rely on one contract whatever stores its bytes.
//
// A backend's test calls RunTests with a function that returns a fresh, empty store. When the
// store also implements files.BlobLister or files.IncompleteSweeper, the suite uses them to
// check that failed and cancelled writes leave nothing behind.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Options tunes the suite to a backend.
type Options struct {
	// LargeSize is the size of the large streamed blob. Default 24 MiB, enough to cross the
	// S3 store's multipart threshold several times.
	LargeSize int64
}

// RunTests runs the conformance suite against stores made by newStore. Each subtest gets its
// own store; newStore should register its cleanup with t.Cleanup.
func RunTests(t *testing.T, newStore func(t *testing.T) files.BlobStore, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = 24 << 20
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s files.BlobStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"ZeroBytes", testZeroBytes},
		{"LargeStreamed", func(t *testing.T, s files.BlobStore) { testLarge(t, s, opts.LargeSize) }},
		{"Seek", testSeek},
		{"ServeContentRanges", testServeContentRanges},
		{"OpenMissing", testOpenMissing},
		{"Delete", testDelete},
		{"ReadWhileDeleted", testReadWhileDeleted},
		{"InvisibleUntilComplete", testInvisibleUntilComplete},
		{"FailingReaderLeavesNothing", testFailingReader},
		{"FailingReaderAfterManyBytes", testFailingReaderLate},
		{"CancelMidPutLeavesNothing", testCancelMidPut},
		{"ConcurrentPuts", testConcurrentPuts},
		{"List", testList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t))
		})
	}
}

func newKey() string { return uuid.NewString() }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// onlyReader hides every method but Read (Seek, WriteTo, Len), so backends see a stream like
// a request body and cannot take a shortcut.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func put(t *testing.T, s files.BlobStore, key string, data []byte) {
	t.Helper()
	n, err := s.Put(ctxT(t), key, onlyReader{bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", len(data), err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Put returned n = %d, want %d", n, len(data))
	}
}

func readAll(t *testing.T, s files.BlobStore, key string) []byte {
	t.Helper()
	b, err := s.Open(ctxT(t), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read blob: %v", err)
	}
	return got
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// requireGone checks key cannot be opened, is not listed, and left no debris to sweep.
func requireGone(t *testing.T, s files.BlobStore, key string) {
	t.Helper()
	ctx := ctxT(t)
	if b, err := s.Open(ctx, key); !errors.Is(err, files.ErrNotFound) {
		if err == nil {
			b.Close()
		}
		t.Fatalf("Open after failed Put: err = %v, want ErrNotFound", err)
	}
	if l, ok := s.(files.BlobLister); ok {
		err := l.ListBlobs(ctx, time.Now().Add(time.Hour), func(bi files.BlobInfo) error {
			if bi.Key == key {
				return fmt.Errorf("blob %s is listed", key)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("ListBlobs: %v", err)
		}
	}
	if sw, ok := s.(files.IncompleteSweeper); ok {
		n, err := sw.SweepIncomplete(ctx, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatalf("SweepIncomplete: %v", err)
		}
		if n != 0 {
			t.Fatalf("SweepIncomplete found %d leftovers of the failed Put, want 0", n)
		}
	}
}

func testRoundTrip(t *testing.T, s files.BlobStore) {
	for _, size := range []int{1, 100, 32<<10 + 7, 1 << 20} {
		key := newKey()
		data := randomBytes(size, uint64(size))
		put(t, s, key, data)
		if got := readAll(t, s, key); !bytes.Equal(got, data) {
			t.Fatalf("size %d: read back %d bytes that differ from the %d written", size, len(got), len(data))
		}
	}
}

func testZeroBytes(t *testing.T, s files.BlobStore) {
	key := newKey()
	put(t, s, key, nil)
	b, err := s.Open(ctxT(t), key)
	if err != nil {
		t.Fatalf("Open zero-byte blob: %v", err)
	}
	defer b.Close()
	end, err := b.Seek(0, io.SeekEnd)
	if err != nil || end != 0 {
		t.Fatalf("Seek(0, End) = %d, %v; want 0, nil", end, err)
	}
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if err != nil || len(got) != 0 {
		t.Fatalf("read zero-byte blob: %d bytes, %v", len(got), err)
	}
}

// patternReader streams n deterministic bytes without holding them, hashing as it goes.
type patternReader struct {
	left int64
	rng  *rand.ChaCha8
	h    io.Writer
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	p.rng.Read(b)
	p.h.Write(b)
	p.left -= int64(len(b))
	return len(b), nil
}

func testLarge(t *testing.T, s files.BlobStore, size int64) {
	key := newKey()
	h := sha256.New()
	// An io.Pipe makes the body truly non-seekable, as a request body is.
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, &patternReader{left: size, rng: rand.NewChaCha8([32]byte{42}), h: h})
		pw.CloseWithError(err)
	}()
	n, err := s.Put(ctxT(t), key, pr)
	if err != nil {
		t.Fatalf("Put large: %v", err)
	}
	if n != size {
		t.Fatalf("Put large: n = %d, want %d", n, size)
	}
	want := h.Sum(nil)
	b, err := s.Open(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rh := sha256.New()
	got, err := io.Copy(rh, b)
	if err != nil {
		t.Fatalf("read large: %v", err)
	}
	if got != size || !bytes.Equal(rh.Sum(nil), want) {
		t.Fatalf("read back %d bytes with a different digest; wrote %d", got, size)
	}
}

func testSeek(t *testing.T, s files.BlobStore) {
	key := newKey()
	data := randomBytes(200<<10, 7)
	put(t, s, key, data)
	b, err := s.Open(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	end, err := b.Seek(0, io.SeekEnd)
	if err != nil || end != int64(len(data)) {
		t.Fatalf("Seek(0, End) = %d, %v; want %d", end, err, len(data))
	}
	steps := []struct {
		off    int64
		whence int
		pos    int64
		n      int
	}{
		{100, io.SeekStart, 100, 10},
		{5, io.SeekCurrent, 115, 1000},
		{-10, io.SeekEnd, int64(len(data)) - 10, 10},
		{0, io.SeekStart, 0, 50},
		{150 << 10, io.SeekStart, 150 << 10, 50 << 10},
	}
	for _, st := range steps {
		pos, err := b.Seek(st.off, st.whence)
		if err != nil || pos != st.pos {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", st.off, st.whence, pos, err, st.pos)
		}
		got := make([]byte, st.n)
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatalf("read %d at %d: %v", st.n, pos, err)
		}
		if !bytes.Equal(got, data[pos:pos+int64(st.n)]) {
			t.Fatalf("bytes at %d differ", pos)
		}
	}
	// Reading at the end gives EOF.
	if _, err := b.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read at end = %d, %v; want 0, EOF", n, err)
	}
	if _, err := b.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek to a negative offset succeeded")
	}
}

// testServeContentRanges checks the blob works with http.ServeContent, which is how downloads
// are served: whole body, a single range, a suffix range and multiple ranges.
func testServeContentRanges(t *testing.T, s files.BlobStore) {
	key := newKey()
	data := randomBytes(100<<10, 9)
	put(t, s, key, data)
	cases := []struct {
		rangeHdr string
		status   int
		want     []byte // nil for multipart
	}{
		{"", http.StatusOK, data},
		{"bytes=10-19", http.StatusPartialContent, data[10:20]},
		{"bytes=-100", http.StatusPartialContent, data[len(data)-100:]},
		{"bytes=50000-", http.StatusPartialContent, data[50000:]},
		{"bytes=0-0,90000-90009", http.StatusPartialContent, nil},
		{"bytes=200000-", http.StatusRequestedRangeNotSatisfiable, nil},
	}
	for _, c := range cases {
		b, err := s.Open(ctxT(t), key)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/", nil)
		if c.rangeHdr != "" {
			req.Header.Set("Range", c.rangeHdr)
		}
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "", time.Time{}, b)
		b.Close()
		if rec.Code != c.status {
			t.Fatalf("Range %q: status %d, want %d", c.rangeHdr, rec.Code, c.status)
		}
		if c.want != nil && !bytes.Equal(rec.Body.Bytes(), c.want) {
			t.Fatalf("Range %q: body of %d bytes differs from the %d expected", c.rangeHdr, rec.Body.Len(), len(c.want))
		}
		if c.want == nil && c.status == http.StatusPartialContent {
			body := rec.Body.Bytes()
			if !bytes.Contains(body, data[0:1]) || !bytes.Contains(body, data[90000:90010]) {
				t.Fatalf("Range %q: multipart body lacks a part", c.rangeHdr)
			}
		}
	}
}

func testOpenMissing(t *testing.T, s files.BlobStore) {
	b, err := s.Open(ctxT(t), newKey())
	if !errors.Is(err, files.ErrNotFound) {
		if err == nil {
			b.Close()
		}
		t.Fatalf("Open(missing) err = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s files.BlobStore) {
	ctx := ctxT(t)
	key := newKey()
	put(t, s, key, []byte("hello"))
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	requireGone(t, s, key)
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete: %v, want nil", err)
	}
	if err := s.Delete(ctx, newKey()); err != nil {
		t.Fatalf("Delete(never existed): %v, want nil", err)
	}
	// Another blob is untouched.
	other := newKey()
	put(t, s, other, []byte("other"))
	if err := s.Delete(ctx, newKey()); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, other); string(got) != "other" {
		t.Fatalf("other blob = %q", got)
	}
}

// testReadWhileDeleted: a blob opened before its Delete still reads whole, so a download that
// races a delete is whole or 404, never torn.
func testReadWhileDeleted(t *testing.T, s files.BlobStore) {
	key := newKey()
	data := randomBytes(8<<20, 11) // larger than any socket buffer
	put(t, s, key, data)
	b, err := s.Open(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := s.Delete(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read after Delete: %v (after %d bytes)", err, len(got))
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes after Delete that differ from the %d written", len(got), len(data))
	}
	requireGone(t, s, key)
}

// gateReader sends first, then blocks until release is closed (or stop), then sends rest.
type gateReader struct {
	first, rest []byte
	reached     chan struct{}
	release     chan struct{}
	once        sync.Once
}

func (g *gateReader) Read(p []byte) (int, error) {
	if len(g.first) > 0 {
		n := copy(p, g.first)
		g.first = g.first[n:]
		return n, nil
	}
	g.once.Do(func() { close(g.reached) })
	<-g.release
	if len(g.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.rest)
	g.rest = g.rest[n:]
	return n, nil
}

// testInvisibleUntilComplete: while Put is still reading, the blob cannot be opened or listed.
func testInvisibleUntilComplete(t *testing.T, s files.BlobStore) {
	key := newKey()
	data := randomBytes(300<<10, 3)
	g := &gateReader{first: data[:200<<10], rest: data[200<<10:], reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		n, err := s.Put(ctxT(t), key, g)
		if err == nil && n != int64(len(data)) {
			err = fmt.Errorf("n = %d, want %d", n, len(data))
		}
		done <- err
	}()
	select {
	case <-g.reached:
	case err := <-done:
		t.Fatalf("Put returned before the body ended: %v", err)
	}
	ctx := ctxT(t)
	if b, err := s.Open(ctx, key); !errors.Is(err, files.ErrNotFound) {
		if err == nil {
			b.Close()
		}
		close(g.release)
		t.Fatalf("Open during Put: err = %v, want ErrNotFound", err)
	}
	if l, ok := s.(files.BlobLister); ok {
		l.ListBlobs(ctx, time.Now().Add(time.Hour), func(bi files.BlobInfo) error {
			if bi.Key == key {
				t.Errorf("in-progress blob %s is listed", key)
			}
			return nil
		})
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := readAll(t, s, key); !bytes.Equal(got, data) {
		t.Fatal("blob differs after completion")
	}
}

var errBoom = errors.New("reader failed")

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func testFailingReader(t *testing.T, s files.BlobStore) {
	key := newKey()
	_, err := s.Put(ctxT(t), key, &failingReader{data: randomBytes(1000, 1), err: errBoom})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Put with failing reader: err = %v, want it to wrap the reader's error", err)
	}
	requireGone(t, s, key)
}

// testFailingReaderLate fails after more bytes than one S3 part, so a multipart upload has
// begun and must be aborted.
func testFailingReaderLate(t *testing.T, s files.BlobStore) {
	key := newKey()
	_, err := s.Put(ctxT(t), key, &failingReader{data: randomBytes(12<<20, 2), err: errBoom})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Put with failing reader: err = %v, want it to wrap the reader's error", err)
	}
	requireGone(t, s, key)
}

// cancelReader cancels the Put's context after sending some bytes, then behaves like a
// request body whose connection dropped: it blocks until the context ends, then errors.
type cancelReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	data   []byte
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if len(c.data) > 0 {
		n := copy(p, c.data)
		c.data = c.data[n:]
		return n, nil
	}
	c.cancel()
	<-c.ctx.Done()
	return 0, c.ctx.Err()
}

func testCancelMidPut(t *testing.T, s files.BlobStore) {
	for _, size := range []int{10 << 10, 12 << 20} {
		key := newKey()
		ctx, cancel := context.WithCancel(ctxT(t))
		_, err := s.Put(ctx, key, &cancelReader{ctx: ctx, cancel: cancel, data: randomBytes(size, 4)})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put cancelled after %d bytes: err = %v, want context.Canceled", size, err)
		}
		requireGone(t, s, key)
	}
}

func testConcurrentPuts(t *testing.T, s files.BlobStore) {
	const n = 8
	keys := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		keys[i] = newKey()
		wg.Go(func() {
			data := randomBytes(64<<10+i, uint64(i))
			if _, err := s.Put(ctxT(t), keys[i], onlyReader{bytes.NewReader(data)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Put: %v", err)
	}
	for i, k := range keys {
		if got := readAll(t, s, k); !bytes.Equal(got, randomBytes(64<<10+i, uint64(i))) {
			t.Fatalf("blob %d differs", i)
		}
	}
}

func testList(t *testing.T, s files.BlobStore) {
	l, ok := s.(files.BlobLister)
	if !ok {
		t.Skip("store does not implement files.BlobLister")
	}
	ctx := ctxT(t)
	want := map[string]int64{}
	for i := range 3 {
		k := newKey()
		put(t, s, k, make([]byte, i*10))
		want[k] = int64(i * 10)
	}
	got := map[string]int64{}
	err := l.ListBlobs(ctx, time.Now().Add(time.Minute), func(bi files.BlobInfo) error {
		if bi.ModTime.IsZero() {
			return fmt.Errorf("blob %s has no ModTime", bi.Key)
		}
		got[bi.Key] = bi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("ListBlobs: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d blobs, want %d: %v", len(got), len(want), got)
	}
	for k, size := range want {
		if gs, ok := got[k]; !ok || gs != size {
			t.Fatalf("blob %s: listed %v (size %d), want size %d", k, ok, gs, size)
		}
	}
	// Nothing is older than an hour ago.
	err = l.ListBlobs(ctx, time.Now().Add(-time.Hour), func(bi files.BlobInfo) error {
		return fmt.Errorf("blob %s listed as older than an hour", bi.Key)
	})
	if err != nil {
		t.Fatal(err)
	}
	// fn's error stops the listing and is returned.
	stop := errors.New("stop")
	if err := l.ListBlobs(ctx, time.Now().Add(time.Minute), func(files.BlobInfo) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("ListBlobs returned %v, want fn's error", err)
	}
}
