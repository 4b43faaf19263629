// Package blobcache keeps the bytes of small blobs in a file node's memory, so that a small
// download needs no open, read, sendfile and close of its blob (four syscalls, a third of the
// CPU of a 4 KiB GET on the virtual machines Coffer is measured on, docs/PERFORMANCE.md).
//
// It is exact without notices: a blob never changes once written (its key is its file's id,
// fresh for every upload, and a file whose bytes are found damaged gets another key), and
// whether a caller may read a blob is decided before it is opened, from the file's row. A
// deleted file's bytes stay until evicted or deleted through this store: memory, not access.
package blobcache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Config bounds a Store.
type Config struct {
	// MaxBlob is the largest blob kept, in bytes. Default 64 KiB.
	MaxBlob int64
	// Budget is the most bytes kept in all. Default 32 MiB (8,192 files of 4 KiB).
	Budget int64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{MaxBlob: 64 << 10, Budget: 32 << 20} }

// Store is a files.BlobStore that answers Open for small blobs from memory; everything else
// is the store beneath.
type Store struct {
	files.BlobStore
	cfg Config

	mu    sync.RWMutex
	blobs map[string][]byte
	used  int64
}

// New wraps next.
func New(next files.BlobStore, cfg Config) *Store {
	d := DefaultConfig()
	if cfg.MaxBlob <= 0 {
		cfg.MaxBlob = d.MaxBlob
	}
	if cfg.Budget <= 0 {
		cfg.Budget = d.Budget
	}
	return &Store{BlobStore: next, cfg: cfg, blobs: map[string][]byte{}}
}

// Wrap returns next behind a Store, keeping next's files.SizedPutter if it has one: a wrapper
// that hid it would send every S3 upload with a known size through the multipart path.
func Wrap(next files.BlobStore, cfg Config) files.BlobStore {
	s := New(next, cfg)
	if sp, ok := next.(files.SizedPutter); ok {
		return sizedStore{Store: s, sized: sp}
	}
	return s
}

// sizedStore is a Store over a files.SizedPutter. A put needs no forgetting: a key is never
// written twice.
type sizedStore struct {
	*Store
	sized files.SizedPutter
}

func (s sizedStore) PutSized(ctx context.Context, key string, r io.Reader, size int64) (int64, error) {
	return s.sized.PutSized(ctx, key, r, size)
}

// Open implements files.BlobStore: a blob held is read from memory; one not held is opened
// beneath and, if small, read whole, kept and served from memory.
func (s *Store) Open(ctx context.Context, key string) (files.Blob, error) {
	s.mu.RLock()
	b, ok := s.blobs[key]
	s.mu.RUnlock()
	if ok {
		return memBlob{bytes.NewReader(b)}, nil
	}
	blob, err := s.BlobStore.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	size, err := blob.Seek(0, io.SeekEnd)
	if err != nil || size > s.cfg.MaxBlob {
		if _, err2 := blob.Seek(0, io.SeekStart); err != nil || err2 != nil {
			blob.Close()
			return nil, fmt.Errorf("blobcache: %w", cmpErr(err, err2))
		}
		return blob, nil
	}
	b = make([]byte, size)
	_, err = blob.Seek(0, io.SeekStart)
	if err == nil {
		_, err = io.ReadFull(blob, b)
	}
	blob.Close()
	if err != nil {
		return nil, fmt.Errorf("blobcache: read %s: %w", key, err)
	}
	s.put(key, b)
	return memBlob{bytes.NewReader(b)}, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (s *Store) put(key string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[key]; ok {
		return
	}
	for k, v := range s.blobs { // map order is random enough for eviction
		if s.used+int64(len(b)) <= s.cfg.Budget {
			break
		}
		s.used -= int64(len(v))
		delete(s.blobs, k)
	}
	s.blobs[key] = b
	s.used += int64(len(b))
}

// Delete implements files.BlobStore, forgetting the bytes too.
func (s *Store) Delete(ctx context.Context, key string) error {
	s.forget(key)
	return s.BlobStore.Delete(ctx, key)
}

func (s *Store) forget(key string) {
	s.mu.Lock()
	if b, ok := s.blobs[key]; ok {
		s.used -= int64(len(b))
		delete(s.blobs, key)
	}
	s.mu.Unlock()
}

// Bytes returns the bytes held now.
func (s *Store) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.used
}

// memBlob is a held blob: a reader of its bytes, closed for free.
type memBlob struct{ *bytes.Reader }

func (memBlob) Close() error { return nil }
