package main

import (
	"math"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8/decor"
)

// TestRateIsWallClock: the rate shown is bytes over wall-clock time, whatever the pattern of
// progress reports: bursts (a socket buffer filling, then waiting), many tiny reports, a
// resume that starts far from zero, and a pace that changes.
func TestRateIsWallClock(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name  string
		start int64
		// at returns the bytes done after d.
		at   func(d time.Duration) int64
		want float64 // bytes per second, at the end
	}{
		{"steady 20 MiB/s", 0, func(d time.Duration) int64 { return int64(d.Seconds() * (20 << 20)) }, 20 << 20},
		{"bursts of 4 MiB every 200 ms", 0, func(d time.Duration) int64 { return int64(d/(200*time.Millisecond)) * 4 << 20 }, 20 << 20},
		{"resumed at 1 GiB", 1 << 30, func(d time.Duration) int64 { return 1<<30 + int64(d.Seconds()*(5<<20)) }, 5 << 20},
		{"slows from 100 to 10 MiB/s", 0, func(d time.Duration) int64 {
			if d < 5*time.Second {
				return int64(d.Seconds() * (100 << 20))
			}
			return 500<<20 + int64((d-5*time.Second).Seconds()*(10<<20))
		}, 10 << 20},
	} {
		r := &rate{window: rateWindow}
		var got float64
		for d := time.Duration(0); d <= 10*time.Second; d += 150 * time.Millisecond { // the bar's refresh
			got = r.observe(t0.Add(d), tc.at(d))
		}
		if math.Abs(got-tc.want)/tc.want > 0.1 {
			t.Errorf("%s: rate %.1f MiB/s, want %.1f", tc.name, got/(1<<20), tc.want/(1<<20))
		}
		if left := r.left(decor.Statistics{Total: tc.at(10*time.Second) + int64(tc.want)*30, Current: tc.at(10 * time.Second)}); left != "30s" {
			t.Errorf("%s: %s left, want 30s", tc.name, left)
		}
	}
}
