package files

import (
	"hash"
	"io"
)

// parallelHash is a reader that hashes what passes through it on another goroutine, so on a
// multi-core machine SHA-256 runs alongside the network read and the disk write instead of
// in series with them (SHA-256 costs about as much CPU as the rest of an upload).
//
// Each Read copies its bytes into the current one of hashSlots buffers of its own, so the
// caller may reuse p at once and the next Read (the next socket read) overlaps the hashing
// of earlier bytes. A slot goes to the hasher when it is full (hashSlot bytes), not after
// every Read: a socket read often returns far less than a slot, and each hand-off costs a
// goroutine wake-up (futex, and the scheduler's spinning: about as many syscalls as the
// reads and writes themselves in strace -c of a 1 GiB upload, 2026-12). A Read waits only
// when the hasher is hashSlots slots behind. Memory is hashSlots × hashSlot per upload.
type parallelHash struct {
	r      io.Reader
	h      hash.Hash
	free   chan []byte // slots the hasher is done with (nil until first used)
	work   chan []byte // slots waiting to be hashed
	done   chan struct{}
	cur    []byte // the slot being filled; nil when none is held
	closed bool
}

const (
	hashSlots = 2
	hashSlot  = 256 << 10
)

func newParallelHash(r io.Reader, h hash.Hash) *parallelHash {
	p := &parallelHash{r: r, h: h, free: make(chan []byte, hashSlots), work: make(chan []byte, hashSlots), done: make(chan struct{})}
	for range hashSlots {
		p.free <- nil
	}
	go func() {
		defer close(p.done)
		for b := range p.work {
			p.h.Write(b)
			p.free <- b[:0]
		}
	}()
	return p
}

func (p *parallelHash) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	for rest := b[:n]; len(rest) > 0; {
		if p.cur == nil {
			p.cur = <-p.free
			if p.cur == nil {
				p.cur = make([]byte, 0, hashSlot)
			}
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], rest)
		p.cur, rest = p.cur[:len(p.cur)+k], rest[k:]
		if len(p.cur) == cap(p.cur) {
			p.work <- p.cur
			p.cur = nil
		}
	}
	return n, err
}

// Sum waits for the hasher, stops it, and returns the digest of everything read.
func (p *parallelHash) Sum() []byte {
	if !p.closed {
		if len(p.cur) > 0 {
			p.work <- p.cur
			p.cur = nil
		}
		close(p.work)
		<-p.done
		p.closed = true
	}
	return p.h.Sum(nil)
}
