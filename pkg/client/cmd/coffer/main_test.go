package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/pkg/client"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{usagef("bad"), exitUsage},
		{fmt.Errorf("x: %w", &client.Error{Problem: client.Problem{Status: http.StatusUnauthorized}}), exitAuth},
		{&client.Error{Problem: client.Problem{Status: http.StatusBadRequest, Code: "invalid_grant"}}, exitAuth},
		{&client.Error{Problem: client.Problem{Status: http.StatusForbidden}}, exitAuth},
		{&client.Error{Problem: client.Problem{Status: http.StatusNotFound}}, exitNotFound},
		{&client.Error{Problem: client.Problem{Status: http.StatusServiceUnavailable}}, exitNetwork},
		{fmt.Errorf("%w: dial", client.ErrNetwork), exitNetwork},
		{&client.Error{Problem: client.Problem{Status: http.StatusBadRequest, Code: "digest_mismatch"}}, exitFailure},
		{errors.New("disk full"), exitFailure},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "100": 100, "2K": 2 << 10, "3m": 3 << 20, "1G": 1 << 30} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "-1", "0", "1T", "K"} {
		if _, err := parseRate(in); exitCode(err) != exitUsage {
			t.Errorf("parseRate(%q): %v, want a usage error", in, err)
		}
	}
}

func TestSafeName(t *testing.T) {
	for name, want := range map[string]string{"a.txt": "a.txt", "../../etc/passwd": "passwd", `..\..\boot.ini`: "boot.ini", "..": "ID", "": "ID", "/": "ID", "dir/": "dir"} {
		if got := safeName(client.File{ID: "ID", Name: name}); got != want {
			t.Errorf("safeName(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestRunUsage runs the command in-process for mistakes caught before any request.
func TestRunUsage(t *testing.T) {
	env := func(k string) string {
		if k == "COFFER_CONFIG_DIR" {
			return t.TempDir()
		}
		return ""
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get"}, "requires at least 1 arg"},
		{[]string{"share", "id"}, "accepts 2 arg"},
		{[]string{"ls", "--bogus"}, "unknown flag"},
		{[]string{"put", "--limit-rate", "fast", "x"}, "--limit-rate"},
		{[]string{"login", "alice"}, "use --password-stdin"},
		{[]string{"link", "id", "--expires", "-1h"}, "--expires must be positive"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"put", "-"}, "stdin needs a name"},
		{[]string{"put", "--if-exists", "maybe", "x"}, "--if-exists must be"},
		{[]string{"put", "--name", "a", "x", "y"}, "--name names one file"},
		{[]string{"put", "-r", "a", "b", "c"}, "one folder"},
		{[]string{"ls", "--sort", "date"}, "--sort must be"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, env, strings.NewReader(""), &stdout, &stderr)
		if exitCode(err) != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("coffer %v: exit %d, stderr %q; want usage error with %q", tc.args, exitCode(err), stderr.String(), tc.want)
		}
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--json", "ls"}, env, strings.NewReader(""), &stdout, &stderr)
	var out struct {
		Error    string `json:"error"`
		Code     string `json:"code"`
		ExitCode int    `json:"exit_code"`
	}
	if exitCode(err) != exitAuth || json.Unmarshal(stderr.Bytes(), &out) != nil || out.Code != "not_logged_in" || out.ExitCode != exitAuth {
		t.Errorf("--json ls without a session: exit %d, stderr %q", exitCode(err), stderr.String())
	}
}
