package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestConfigReference: the README's configuration table lists exactly the variables the
// auth service's loader reads, the key-encryption key (and its _FILE) included.
func TestConfigReference(t *testing.T) {
	read := map[string]bool{}
	getenv := func(k string) string { read[k] = true; return "" }
	loadConfig(getenv, true) //nolint:errcheck // only the names read matter
	compareWithReadme(t, "auth", read)
}

var readmeEnvName = regexp.MustCompile("`((?:COFFER_[A-Z0-9_]+)|DATABASE_URL)`")

// compareWithReadme fails unless the rows of the README's configuration table whose service
// column names service list exactly the variables in read.
func compareWithReadme(t *testing.T, service string, read map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !slices.Contains(strings.Split(strings.ReplaceAll(cells[2], " ", ""), ","), service) {
			continue
		}
		for _, m := range readmeEnvName.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
		}
	}
	for k := range read {
		if !documented[k] {
			t.Errorf("the config reads %s; add it to the README's configuration table (service %s)", k, service)
		}
	}
	for k := range documented {
		if !read[k] {
			t.Errorf("the README's configuration table lists %s for %s, which the config does not read", k, service)
		}
	}
}
