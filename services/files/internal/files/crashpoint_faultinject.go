//go:build faultinject

package files

import (
	"os"
	"syscall"
)

// crashPoint kills the process with SIGKILL when COFFER_FILES_CRASH_POINT names this point,
// so the fault suite (e2e/fault_*_test.go) can crash a node between two steps no outside
// signal can hit reliably. Only binaries built with -tags faultinject contain it; reading the
// environment here instead of in run is acceptable for a test-only build.
func crashPoint(name string) {
	if os.Getenv("COFFER_FILES_CRASH_POINT") == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never return: the signal is on its way
	}
}
