//go:build !faultinject

package files

// crashPoint marks a place where the fault suite can kill the process (build tag
// faultinject, see crashpoint_faultinject.go). In production builds it does nothing and
// compiles away.
func crashPoint(string) {}
