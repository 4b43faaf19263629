// Package version says which release of Coffer a binary is. The Makefile sets it at link time
// from `git describe`:
//
//	go build -ldflags "-X github.com/cofferhq/coffer/pkg/version.release=$(git describe --tags --always --dirty)"
//
// A binary built without that flag falls back to what the Go toolchain recorded: the module
// version of a `go install module@version`, or the VCS revision when the build stamped one
// (GOFLAGS=-buildvcs=false, as the Makefile sets for builds inside containers, records none),
// and otherwise "devel".
package version

import (
	"runtime/debug"
	"strings"
)

// release is set by the linker (-X); it is the one package variable Coffer has, since the
// linker can set nothing else.
var release string

// String is the binary's version, e.g. "v0.17.0", "v0.16.0-12-g1a2b3c4-dirty" or "devel".
func String() string {
	if release != "" {
		return release
	}
	return fromBuildInfo(debug.ReadBuildInfo())
}

// fromBuildInfo derives a version from the toolchain's build record.
func fromBuildInfo(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel+" + rev
	if modified == "true" {
		v += "-dirty"
	}
	return v
}

// Line is what a binary's `version` command prints: its name, version and Go release.
func Line(binary string) string {
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	return strings.Join([]string{binary, String(), goVersion}, " ")
}
