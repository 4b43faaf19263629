package client

import (
	"errors"
	"hash"
	"io"
	"os"
	"time"
)

// fileSend sends a region of a file as a request body the kernel can copy to the socket
// (sendfile), while a goroutine hashes the same bytes from the page cache and another
// reports how far the send got. Hashing in the send path instead costs a user-space copy
// and two system calls per 32 KiB.
type fileSend struct {
	stopHash, stopProgress chan struct{}
	hashDone, progressDone chan struct{}
	hashErr                error
}

// errStopped ends a hash that is no longer wanted.
var errStopped = errors.New("stopped")

// startFileSend positions f at start and returns the body to send (n bytes from there),
// hashing those bytes into h meanwhile. It fails where a descriptor cannot be duplicated;
// callers then send through a reader.
func startFileSend(f *os.File, start, n int64, h hash.Hash, progress func(int64)) (io.Reader, *fileSend, error) {
	body, err := dupFile(f) // net/http closes it; the caller's f stays open
	if err != nil {
		return nil, nil, err
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		body.Close()
		return nil, nil, err
	}
	s := &fileSend{stopHash: make(chan struct{}), stopProgress: make(chan struct{}), hashDone: make(chan struct{}), progressDone: make(chan struct{})}
	go func() {
		defer close(s.hashDone)
		_, s.hashErr = io.CopyBuffer(h, stopReader{io.NewSectionReader(f, start, n), s.stopHash}, make([]byte, copyBuffer))
	}()
	go func() {
		defer close(s.progressDone)
		if progress == nil {
			return
		}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopProgress:
				return
			case <-t.C:
				// sendfile on Linux advances the file position as it goes.
				if pos, err := f.Seek(0, io.SeekCurrent); err == nil {
					progress(min(pos, start+n))
				}
			}
		}
	}()
	return body, s, nil
}

// finish stops the progress reports and waits for the hash to end (stopping it early when
// the send failed, as it is no longer wanted).
func (s *fileSend) finish(sent bool) error {
	close(s.stopProgress)
	if !sent {
		close(s.stopHash)
	}
	<-s.progressDone
	<-s.hashDone
	return s.hashErr
}

// stopReader fails reads once stop is closed.
type stopReader struct {
	r    io.Reader
	stop chan struct{}
}

func (s stopReader) Read(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, errStopped
	default:
	}
	return s.r.Read(p)
}

// hashBehind writes to w and hashes the same bytes on another goroutine, so the hash
// overlaps the writes instead of adding to them. Close waits for the hash to catch up.
type hashBehind struct {
	w    io.Writer
	ch   chan []byte
	free chan []byte
	done chan struct{}
}

func newHashBehind(w io.Writer, h hash.Hash) *hashBehind {
	hb := &hashBehind{w: w, ch: make(chan []byte, 8), free: make(chan []byte, 9), done: make(chan struct{})}
	go func() {
		defer close(hb.done)
		for b := range hb.ch {
			h.Write(b)
			select {
			case hb.free <- b:
			default: // enough spares
			}
		}
	}()
	return hb
}

func (hb *hashBehind) Write(p []byte) (int, error) {
	n, err := hb.w.Write(p)
	var buf []byte
	select {
	case buf = <-hb.free:
	default:
		buf = make([]byte, 0, copyBuffer)
	}
	hb.ch <- append(buf[:0], p[:n]...)
	return n, err
}

// Close waits until every byte written is hashed.
func (hb *hashBehind) Close() {
	close(hb.ch)
	<-hb.done
}
