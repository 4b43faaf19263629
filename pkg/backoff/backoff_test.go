package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/backoff"
)

var errTemporary = errors.New("temporary")

// TestRetryUntilSuccess: failures are retried with doubling waits, capped at max.
func TestRetryUntilSuccess(t *testing.T) {
	calls := 0
	var waits []time.Duration
	err := backoff.Retry(t.Context(), time.Millisecond, 4*time.Millisecond, func() error {
		calls++
		if calls < 5 {
			return errTemporary
		}
		return nil
	}, func(err error, wait time.Duration) {
		if !errors.Is(err, errTemporary) {
			t.Errorf("notified of %v, want errTemporary", err)
		}
		waits = append(waits, wait)
	})
	if err != nil || calls != 5 {
		t.Fatalf("Retry = %v after %d calls, want nil after 5", err, calls)
	}
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
}

// TestRetryPermanent: a permanent error ends the loop at once and comes back unwrapped.
func TestRetryPermanent(t *testing.T) {
	errBad := errors.New("bad key")
	calls := 0
	err := backoff.Retry(t.Context(), time.Millisecond, time.Millisecond, func() error {
		calls++
		return backoff.Permanent(errBad)
	}, nil)
	if err != errBad || calls != 1 {
		t.Fatalf("Retry = %v after %d calls, want errBad after 1", err, calls)
	}
	if backoff.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
}

// TestRetryStopsWithContext: when ctx ends, Retry returns its error together with the last
// failure, without waiting out the delay.
func TestRetryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := backoff.Retry(ctx, time.Hour, time.Hour, func() error {
		calls++
		cancel()
		return errTemporary
	}, nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errTemporary) || calls != 1 {
		t.Fatalf("Retry = %v after %d calls, want Canceled and errTemporary after 1", err, calls)
	}
}
