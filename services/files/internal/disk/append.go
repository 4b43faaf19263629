package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// partialPrefix names a resumable upload's partial blob, next to where the blob will be. Neither
// ListBlobs nor SweepIncomplete touches it: the upload's row owns it, and its expiry removes it.
const partialPrefix = ".part-"

var _ files.Appender = (*Store)(nil)

func (s *Store) partialPath(key string) (final, partial string, err error) {
	final, err = s.path(key)
	if err != nil {
		return "", "", err
	}
	return final, filepath.Join(filepath.Dir(final), partialPrefix+key), nil
}

// Append implements files.Appender: the partial blob is cut back to offset (dropping whatever an
// unrecorded write left), appended to, and fsynced. The state is unused.
func (s *Store) Append(ctx context.Context, key string, _ []byte, offset int64, r io.Reader) (n int64, _ []byte, err error) {
	final, partial, err := s.partialPath(key)
	if err != nil {
		return 0, nil, err
	}
	dir := filepath.Dir(final)
	var syncs []string
	if offset == 0 {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			syncs = append(syncs, filepath.Dir(dir), s.root)
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return 0, nil, mapErr(err)
		}
		syncs = append([]string{dir}, syncs...)
	}
	flags := os.O_WRONLY
	if offset == 0 {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(partial, flags, 0o640)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, fmt.Errorf("%w: disk: partial blob of %s is gone", files.ErrNotFound, key)
	}
	if err != nil {
		return 0, nil, mapErr(err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = mapErr(cerr)
		}
	}()
	if info, err := f.Stat(); err != nil {
		return 0, nil, mapErr(err)
	} else if info.Size() < offset {
		return 0, nil, fmt.Errorf("disk: partial blob of %s holds %d bytes, %d recorded", key, info.Size(), offset)
	}
	if err := f.Truncate(offset); err != nil {
		return 0, nil, mapErr(err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, nil, mapErr(err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, nil, mapErr(err)
	}
	buf := make([]byte, 128<<10) // as Put: see the measurement there
	n, err = io.CopyBuffer(&writeback{f: f, rc: rc, start: offset, end: offset}, ctxReader{ctx, r}, buf)
	if err != nil {
		return n, nil, mapErr(err)
	}
	if err := f.Sync(); err != nil {
		return n, nil, mapErr(err)
	}
	for _, d := range syncs {
		if err := syncDir(d); err != nil {
			return n, nil, mapErr(err)
		}
	}
	return n, nil, nil
}

// CompleteAppend implements files.Appender: the partial blob, fsynced by every Append, is
// renamed into place and its directory synced. No byte is read or copied.
func (s *Store) CompleteAppend(_ context.Context, key string, _ []byte, size int64) error {
	final, partial, err := s.partialPath(key)
	if err != nil {
		return err
	}
	info, err := os.Stat(partial)
	if errors.Is(err, fs.ErrNotExist) {
		if fi, ferr := os.Stat(final); ferr == nil && fi.Size() == size {
			return nil // completed before
		}
		return fmt.Errorf("%w: disk: partial blob of %s is gone", files.ErrNotFound, key)
	}
	if err != nil {
		return mapErr(err)
	}
	if info.Size() != size {
		return fmt.Errorf("disk: partial blob of %s holds %d bytes, want %d", key, info.Size(), size)
	}
	if err := os.Rename(partial, final); err != nil {
		return mapErr(err)
	}
	return mapErr0(syncDir(filepath.Dir(final)))
}

// AbortAppend implements files.Appender.
func (s *Store) AbortAppend(_ context.Context, key string, _ []byte) error {
	final, partial, err := s.partialPath(key)
	if err != nil {
		return err
	}
	for _, p := range []string{partial, final} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return mapErr(err)
		}
	}
	return nil
}

// writebackWindow is how many written bytes make the kernel start writing them to disk: 1 MiB
// measured better than 8 MiB for 8 MiB PATCHes (0.98× vs 0.72× a direct upload; 64 MiB
// PATCHes at ~1.0× either way), since the acknowledging fsync then waits for little.
const writebackWindow = 1 << 20

// writeback writes to the partial blob and starts the kernel's writeback of every full window
// while the next one arrives (sync_file_range), so the fsync that acknowledges a request waits
// for one window at most, not for the whole request. Measured with BenchmarkTusVsDirect.
type writeback struct {
	f          *os.File
	rc         syscall.RawConn
	start, end int64 // the window not yet handed to writeback
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.end += int64(n)
	if w.end-w.start >= writebackWindow {
		_ = w.rc.Control(func(fd uintptr) {
			_ = unix.SyncFileRange(int(fd), w.start, w.end-w.start, unix.SYNC_FILE_RANGE_WRITE)
		})
		w.start = w.end
	}
	return n, err
}

func mapErr0(err error) error {
	if err == nil {
		return nil
	}
	return mapErr(err)
}
