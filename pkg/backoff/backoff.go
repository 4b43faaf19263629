// Package backoff retries an operation with exponential backoff until it succeeds, fails for
// good, or its context ends: the one retry loop both services use for their start-up work
// (migrations, signing keys, the JWK Set) and for cleanup that must finish (S3 aborts).
package backoff

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Retry calls f until it returns nil, returns an error wrapped by Permanent, or ctx ends.
// After each failure it waits, starting at first and doubling up to max; notify, when not
// nil, is told of the failure and the wait first. It returns nil, the permanent error (as f
// gave it, without the Permanent wrapper), or ctx's error joined with f's last error.
func Retry(ctx context.Context, first, max time.Duration, f func() error, notify func(err error, wait time.Duration)) error {
	delay := first
	for {
		err := f()
		if err == nil {
			return nil
		}
		var p *permanentError
		if errors.As(err, &p) {
			return p.err
		}
		if notify != nil {
			notify(err, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, max)
	}
}

// Permanent marks err as not worth retrying: Retry returns it at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }
