package files

import (
	"hash"
	"io"
)

// parallelHash is a reader that hashes what passes through it on another goroutine, so on a
// multi-core machine SHA-256 runs alongside the disk or network write instead of in series
// with it (SHA-256 costs about as much CPU as the write itself).
//
// Each Read hands its bytes to the hasher and returns at once; the next Read (or Sum) waits
// until the hasher is done with them. The caller may therefore only read p between two calls,
// which is what every io.Copy-style consumer does.
type parallelHash struct {
	r       io.Reader
	h       hash.Hash
	work    chan []byte
	done    chan struct{}
	pending bool
	closed  bool
}

func newParallelHash(r io.Reader, h hash.Hash) *parallelHash {
	p := &parallelHash{r: r, h: h, work: make(chan []byte), done: make(chan struct{})}
	go func() {
		for b := range p.work {
			p.h.Write(b)
			p.done <- struct{}{}
		}
		close(p.done)
	}()
	return p
}

func (p *parallelHash) Read(b []byte) (int, error) {
	p.wait()
	n, err := p.r.Read(b)
	if n > 0 {
		p.work <- b[:n]
		p.pending = true
	}
	return n, err
}

func (p *parallelHash) wait() {
	if p.pending {
		<-p.done
		p.pending = false
	}
}

// Sum waits for the hasher, stops it, and returns the digest of everything read.
func (p *parallelHash) Sum() []byte {
	p.wait()
	if !p.closed {
		close(p.work)
		<-p.done
		p.closed = true
	}
	return p.h.Sum(nil)
}
