package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress draws one bar per transfer on a terminal; elsewhere it draws nothing and the
// commands print one plain line per finished transfer.
type progress struct {
	p *mpb.Progress // nil: no bars
}

func (a *app) newProgress(ctx context.Context) *progress {
	if !a.showProgress() {
		return &progress{}
	}
	return &progress{p: mpb.NewWithContext(ctx, mpb.WithOutput(a.stdout), mpb.WithWidth(100),
		mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())}
}

// wait lets the bars draw their final state.
func (p *progress) wait() {
	if p.p != nil {
		p.p.Wait()
	}
}

// bar is one transfer's bar: bytes done of total, rate and time left.
type bar struct {
	b *mpb.Bar
}

func (p *progress) bar(verb, name string, total, start int64) *bar {
	if p.p == nil {
		return &bar{}
	}
	r := &rate{window: rateWindow}
	b := p.p.New(total, mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]"),
		mpb.PrependDecorators(
			decor.Name(verb+" "+shorten(name, 24), decor.WCSyncSpaceR),
			decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace),
		),
		mpb.AppendDecorators(
			decor.Any(func(s decor.Statistics) string { return r.speed(time.Now(), s) }, decor.WCSyncSpace),
			decor.OnComplete(decor.Any(func(s decor.Statistics) string { return r.left(s) }, decor.WCSyncSpace), " done"),
		),
	)
	if start > 0 {
		b.SetCurrent(start)
	}
	return &bar{b: b}
}

// rateWindow is how far back the shown rate looks: long enough to smooth the bursts of a
// socket buffer filling, short enough to follow a change of pace within a few seconds.
const rateWindow = 3 * time.Second

// rate is the transfer rate as a person would measure it with a stopwatch: bytes done over
// the wall-clock time they took, within the last window. It is sampled when the bar is drawn,
// so it never depends on how often or in what chunks the transfer reports progress (an
// average of per-report rates, as an EWMA of increments is, overstated it fivefold), and a
// stall shows as a falling rate. A resume's first bytes count from the resume, not from zero.
type rate struct {
	window  time.Duration
	mu      sync.Mutex
	samples []rateSample
	bps     float64
}

type rateSample struct {
	t time.Time
	n int64
}

// observe records that n bytes were done at t and returns the rate in bytes per second
// (0 until a measurable time has passed).
func (r *rate) observe(t time.Time, n int64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, rateSample{t, n})
	// Keep one sample at or before the window's start, so the window is always covered.
	for len(r.samples) > 2 && t.Sub(r.samples[1].t) >= r.window {
		r.samples = r.samples[1:]
	}
	first := r.samples[0]
	if d := t.Sub(first.t); d >= 100*time.Millisecond {
		r.bps = float64(n-first.n) / d.Seconds()
	}
	return r.bps
}

func (r *rate) speed(t time.Time, s decor.Statistics) string {
	bps := r.observe(t, s.Current)
	return fmt.Sprintf("%s/s", human(int64(bps)))
}

func (r *rate) left(s decor.Statistics) string {
	r.mu.Lock()
	bps := r.bps
	r.mu.Unlock()
	if bps <= 0 || s.Total <= 0 {
		return ""
	}
	return time.Duration(float64(s.Total-s.Current) / bps * float64(time.Second)).Round(time.Second).String()
}

// set moves the bar to an absolute offset.
func (b *bar) set(offset int64) {
	if b.b == nil {
		return
	}
	b.b.SetCurrent(offset)
}

// writer counts what is written through w on the bar.
func (b *bar) writer(w io.Writer) io.Writer {
	if b.b == nil {
		return w
	}
	pw, err := b.b.ProxyWriter(w)
	if err != nil {
		return w
	}
	return struct{ io.Writer }{pw} // hide Close: the caller owns w
}

// finish completes the bar, or leaves it where it stopped when the transfer failed.
func (b *bar) finish(ok bool) {
	if b.b == nil {
		return
	}
	if ok {
		b.b.SetTotal(-1, true)
	} else {
		b.b.Abort(false)
	}
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// human formats a byte count.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
