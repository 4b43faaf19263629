package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Release is a past release as CHANGELOG.md names it.
type Release struct {
	Tag    string // e.g. v0.16.0
	Commit string // the full commit id the release was cut from
}

// releaseHeading matches a released section ("## v0.16.0 — date") and releaseCommit the line
// under it naming its commit; the commit, not the tag, is what is built, since a clone may
// lack tags.
var (
	releaseHeading = regexp.MustCompile(`^## \[?(v\d+\.\d+\.\d+)\]?`)
	releaseCommit  = regexp.MustCompile(`^Release commit: ([0-9a-f]{40})\s*$`)
)

// PreviousRelease returns the newest release CHANGELOG.md at root names.
func PreviousRelease(root string) (Release, error) {
	f, err := os.Open(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		return Release{}, err
	}
	defer f.Close()
	var tag string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := releaseHeading.FindStringSubmatch(line); m != nil {
			tag = m[1]
			continue
		}
		if m := releaseCommit.FindStringSubmatch(line); m != nil && tag != "" {
			return Release{Tag: tag, Commit: m[1]}, nil
		}
	}
	if err := sc.Err(); err != nil {
		return Release{}, err
	}
	return Release{}, errors.New("harness: CHANGELOG.md names no release with a \"Release commit:\" line")
}

// BuildRelease builds the auth and file services of a past release from the repository's
// history: `git archive` of its commit into a temporary folder, then `go build` there (which
// needs only the module cache). The binaries are kept under cacheDir/<commit>/, so a test run
// builds each release once.
func BuildRelease(ctx context.Context, root string, rel Release, cacheDir string) (Binaries, error) {
	out := filepath.Join(cacheDir, rel.Commit)
	b := Binaries{Auth: filepath.Join(out, "coffer-auth"), Files: filepath.Join(out, "coffer-files")}
	if _, err := os.Stat(b.Files); err == nil {
		if _, err := os.Stat(b.Auth); err == nil {
			return b, nil
		}
	}
	if err := exec.CommandContext(ctx, "git", "-C", root, "cat-file", "-e", rel.Commit+"^{commit}").Run(); err != nil {
		return Binaries{}, fmt.Errorf("harness: release %s (commit %s) is not in this clone's history (a shallow clone? fetch with --unshallow): %w",
			rel.Tag, rel.Commit, err)
	}
	src, err := os.MkdirTemp("", "coffer-release-")
	if err != nil {
		return Binaries{}, err
	}
	defer os.RemoveAll(src)
	archive := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "-", root, rel.Commit, src)
	if o, err := archive.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("harness: git archive %s: %w\n%s", rel.Commit, err, o)
	}
	tmpOut, err := os.MkdirTemp(cacheDir, ".build-")
	if err != nil {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return Binaries{}, err
		}
		if tmpOut, err = os.MkdirTemp(cacheDir, ".build-"); err != nil {
			return Binaries{}, err
		}
	}
	defer os.RemoveAll(tmpOut)
	build := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X github.com/cofferhq/coffer/pkg/version.release="+rel.Tag,
		"-o", tmpOut+string(os.PathSeparator), "./services/auth/cmd/coffer-auth", "./services/files/cmd/coffer-files")
	build.Dir = src
	// The release's own go.work, not the caller's; no VCS stamping of an archive.
	build.Env = append(withoutEnv(os.Environ(), "GOWORK", "GOFLAGS"), "GOFLAGS=-buildvcs=false")
	if o, err := build.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("harness: build release %s: %w\n%s", rel.Tag, err, o)
	}
	// Publish the finished folder in one rename, so a concurrent or interrupted run never sees
	// half a release.
	if err := os.Rename(tmpOut, out); err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Stat(b.Files); serr != nil {
			return Binaries{}, fmt.Errorf("harness: cache release %s: %w", rel.Tag, err)
		}
	}
	return b, nil
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
