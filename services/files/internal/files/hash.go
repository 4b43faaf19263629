package files

import (
	"hash"
	"io"
)

// parallelHash is a reader that hashes what passes through it on another goroutine, so on a
// multi-core machine SHA-256 runs alongside the network read and the disk write instead of
// in series with them (SHA-256 costs about as much CPU as the rest of an upload).
//
// Each Read copies its bytes into one of hashSlots buffers of its own and hands that to the
// hasher, so the caller may reuse p at once and the next Read (the next socket read) overlaps
// the hashing of this one; a Read waits only when the hasher is hashSlots chunks behind.
// With one shared buffer instead, every read had to wait for the hash of the previous chunk:
// a chunk took read + max(write, hash) rather than max(read + write, hash). The copy costs a
// memmove, a small fraction of hashing the same bytes; memory is hashSlots buffers per upload.
type parallelHash struct {
	r      io.Reader
	h      hash.Hash
	free   chan []byte // slots the hasher is done with (nil until first used)
	work   chan []byte // slots waiting to be hashed
	done   chan struct{}
	closed bool
}

const hashSlots = 2

func newParallelHash(r io.Reader, h hash.Hash) *parallelHash {
	p := &parallelHash{r: r, h: h, free: make(chan []byte, hashSlots), work: make(chan []byte, hashSlots), done: make(chan struct{})}
	for range hashSlots {
		p.free <- nil
	}
	go func() {
		defer close(p.done)
		for b := range p.work {
			p.h.Write(b)
			p.free <- b
		}
	}()
	return p
}

func (p *parallelHash) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		slot := <-p.free
		if cap(slot) < n {
			slot = make([]byte, len(b))
		}
		slot = slot[:n]
		copy(slot, b[:n])
		p.work <- slot
	}
	return n, err
}

// Sum waits for the hasher, stops it, and returns the digest of everything read.
func (p *parallelHash) Sum() []byte {
	if !p.closed {
		close(p.work)
		<-p.done
		p.closed = true
	}
	return p.h.Sum(nil)
}
