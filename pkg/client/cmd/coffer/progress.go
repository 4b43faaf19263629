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
	b    *mpb.Bar
	mu   sync.Mutex
	last time.Time
}

func (p *progress) bar(verb, name string, total, start int64) *bar {
	if p.p == nil {
		return &bar{}
	}
	b := p.p.New(total, mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]"),
		mpb.PrependDecorators(
			decor.Name(verb+" "+shorten(name, 24), decor.WCSyncSpaceR),
			decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace),
		),
		mpb.AppendDecorators(
			decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30, decor.WCSyncSpace),
			decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WCSyncSpace), " done"),
		),
	)
	if start > 0 {
		b.SetCurrent(start)
		_ = b.DecoratorAverageAdjust(time.Now())
	}
	return &bar{b: b, last: time.Now()}
}

// set moves the bar to an absolute offset.
func (b *bar) set(offset int64) {
	if b.b == nil {
		return
	}
	b.mu.Lock()
	now := time.Now()
	b.b.EwmaSetCurrent(offset, now.Sub(b.last))
	b.last = now
	b.mu.Unlock()
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
