// Package configref checks a service's configuration reference, the README's table of
// environment variables, against the names its config loader really reads, so the table
// cannot go stale.
package configref

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var envName = regexp.MustCompile("`((?:COFFER_[A-Z0-9_]+)|DATABASE_URL)`")

// Recorder returns a getenv that answers from env and records every name asked for in read.
func Recorder(read map[string]bool, env map[string]string) func(string) string {
	return func(k string) string { read[k] = true; return env[k] }
}

// Check fails tb unless the rows of the configuration table in the README at readmePath whose
// service column names service list exactly the variables in read.
func Check(tb testing.TB, readmePath, service string, read map[string]bool) {
	tb.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		tb.Fatal(err)
	}
	documented := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !slices.Contains(strings.Split(strings.ReplaceAll(cells[2], " ", ""), ","), service) {
			continue
		}
		for _, m := range envName.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
		}
	}
	for k := range read {
		if !documented[k] {
			tb.Errorf("the config reads %s; add it to the README's configuration table (service %s)", k, service)
		}
	}
	for k := range documented {
		if !read[k] {
			tb.Errorf("the README's configuration table lists %s for %s, which the config does not read", k, service)
		}
	}
}
