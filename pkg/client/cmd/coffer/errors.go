package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/pkg/client"
)

// Exit codes, so scripts can tell failures apart.
const (
	exitOK       = 0
	exitFailure  = 1 // anything else: refused input, digest mismatch, full quota...
	exitUsage    = 2 // bad command line
	exitAuth     = 3 // not logged in, session expired or revoked, forbidden
	exitNotFound = 4 // no such file, user or link
	exitNetwork  = 5 // no answer from a service, or it is unavailable
)

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitCode maps a command's error to the process exit status.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, client.ErrUnauthorized), errors.Is(err, client.ErrForbidden):
		return exitAuth
	case errors.Is(err, client.ErrNotFound):
		return exitNotFound
	case errors.Is(err, client.ErrNetwork), errors.Is(err, client.ErrUnavailable):
		return exitNetwork
	}
	return exitFailure
}

// report writes err for a person (or as JSON with --json) on stderr.
func (a *app) report(err error) {
	msg := message(err)
	if a.json {
		out := map[string]any{"error": msg, "exit_code": exitCode(err)}
		var ce *client.Error
		if errors.As(err, &ce) {
			out["code"], out["status"] = ce.Code, ce.Status
		}
		b, _ := json.Marshal(out)
		fprintf(a.stderr, "%s\n", b)
		return
	}
	fprintf(a.stderr, "coffer: %s\n", msg)
	var ue *usageError
	if errors.As(err, &ue) {
		fprintf(a.stderr, "Run 'coffer --help' for usage.\n")
	}
}

// message is what a person reads: the service's explanation, with a hint where one helps,
// rather than a Go error chain.
func message(err error) string {
	var ce *client.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, &ce):
		hint := ""
		switch {
		case errors.Is(err, client.ErrUnauthorized):
			hint = "; run 'coffer login'"
		case errors.Is(err, client.ErrForbidden):
			hint = "; log in again to get the scope it needs"
		}
		return err.Error() + hint
	case errors.Is(err, client.ErrNetwork):
		return "cannot reach the service: " + rootCause(err) + " (check --server/--auth-server)"
	}
	return err.Error()
}

// rootCause is the innermost error's text, e.g. "connection refused".
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
