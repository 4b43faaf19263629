package disk

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestMapErrStorageFull: a full disk (ENOSPC) and an exhausted quota (EDQUOT), however the
// os package wraps them, are files.ErrStorageFull (507 insufficient_storage); other errors
// are not, and the cause stays reachable for the logs.
func TestMapErrStorageFull(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		full bool
	}{
		{"ENOSPC", syscall.ENOSPC, true},
		{"EDQUOT", syscall.EDQUOT, true},
		{"write ENOSPC", &fs.PathError{Op: "write", Path: "/data/x", Err: syscall.ENOSPC}, true},
		{"sync EDQUOT", &fs.PathError{Op: "sync", Path: "/data/x", Err: syscall.EDQUOT}, true},
		{"rename ENOSPC", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.ENOSPC}, true},
		{"mkdir ENOSPC", &os.SyscallError{Syscall: "mkdirat", Err: syscall.ENOSPC}, true},
		{"EIO", &fs.PathError{Op: "write", Path: "/data/x", Err: syscall.EIO}, false},
		{"EACCES", syscall.EACCES, false},
		{"EFBIG", syscall.EFBIG, false},
	} {
		got := mapErr(tc.err)
		if errors.Is(got, files.ErrStorageFull) != tc.full {
			t.Errorf("%s: mapErr = %v; storage full = %v, want %v", tc.name, got, !tc.full, tc.full)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%s: mapErr = %v, which hides its cause", tc.name, got)
		}
	}
}
