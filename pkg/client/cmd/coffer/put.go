package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cofferhq/coffer/pkg/client"
)

// putResult is one uploaded file, as --json prints it.
type putResult struct {
	client.File
	Path      string `json:"path"`
	ResumedAt int64  `json:"resumed_at,omitempty"`
}

func (a *app) putCommand() *cobra.Command {
	var (
		noResume bool
		limit    string
	)
	cmd := &cobra.Command{
		Use:   "put FILE...",
		Short: "Upload files, with progress; an interrupted upload resumes on the next put",
		Long: "Upload files. Each is sent through the resumable (tus) endpoint when the server\n" +
			"has one: if the upload is interrupted, running the same put again continues where\n" +
			"it stopped (as long as the file is unchanged). The SHA-256 of what was sent is\n" +
			"checked against what the server stored.",
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bps, err := parseRate(limit)
			if err != nil {
				return err
			}
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			prog := a.newProgress(cmd.Context())
			var results []putResult
			for _, p := range args {
				r, err := a.put(cmd.Context(), c, prog, p, !noResume, bps)
				if err != nil {
					prog.wait()
					return fmt.Errorf("%s: %w", p, err)
				}
				results = append(results, r)
				if !a.json && prog.p == nil {
					line := fmt.Sprintf("uploaded %s  %s  %s", p, r.ID, human(r.Size))
					if r.ResumedAt > 0 {
						line += fmt.Sprintf("  (resumed at %s)", human(r.ResumedAt))
					}
					fprintf(a.stdout, "%s\n", line)
				}
			}
			prog.wait()
			if a.json {
				return a.printJSON(results)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noResume, "no-resume", false, "send each file in one plain request (not resumable)")
	cmd.Flags().StringVar(&limit, "limit-rate", "", "limit the transfer rate, in bytes per second (suffixes K, M, G)")
	return cmd
}

func (a *app) put(ctx context.Context, c *client.Client, prog *progress, path string, resumable bool, bps int64) (putResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return putResult{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return putResult{}, err
	}
	if !st.Mode().IsRegular() {
		return putResult{}, usagef("%s is not a regular file", path)
	}
	name := filepath.Base(path)
	ct := mime.TypeByExtension(filepath.Ext(name))
	res := putResult{Path: path}
	if resumable {
		abs, _ := filepath.Abs(path)
		key := abs + "|" + strconv.FormatInt(st.Size(), 10) + "|" + strconv.FormatInt(st.ModTime().UnixNano(), 10)
		saved := a.loadTransfers().Uploads[key]
		var (
			mu sync.Mutex // OnProgress runs on the transport's goroutine
			b  *bar
		)
		r, err := c.UploadResumable(ctx, name, throttleAt(ctx, f, bps), st.Size(), &client.ResumableOptions{
			ContentType: ct,
			URL:         saved,
			OnCreate:    func(u string) { a.updateTransfers(func(t *transfers) { t.Uploads[key] = u }) },
			OnProgress: func(off int64) {
				mu.Lock()
				defer mu.Unlock()
				if b == nil {
					b = prog.bar("put", name, st.Size(), off)
				}
				b.set(off)
			},
		})
		mu.Lock()
		if b != nil {
			b.finish(err == nil)
		}
		mu.Unlock()
		if err == nil {
			a.updateTransfers(func(t *transfers) { delete(t.Uploads, key) })
			res.File, res.ResumedAt = r.File, r.ResumedAt
			return res, nil
		}
		if !errors.Is(err, client.ErrResumableUnsupported) {
			return res, err
		}
	}
	b := prog.bar("put", name, st.Size(), 0)
	var body io.Reader = f // a file is sent with sendfile
	if bps > 0 {
		body = throttle(ctx, f, bps)
	}
	file, err := c.Upload(ctx, name, body, &client.UploadOptions{Size: st.Size(), ContentType: ct, OnProgress: b.set})
	b.finish(err == nil)
	if err != nil {
		return res, err
	}
	res.File = file
	return res, nil
}

// pacer keeps a transfer to bps bytes per second on average (--limit-rate).
type pacer struct {
	ctx   context.Context
	bps   int64
	start time.Time
	n     int64
}

// limit shortens a read so the pace stays smooth.
func (p *pacer) limit(b []byte) []byte {
	if max := p.bps/10 + 1; int64(len(b)) > max {
		return b[:max]
	}
	return b
}

// took counts n bytes and waits until they are due.
func (p *pacer) took(n int) error {
	p.n += int64(n)
	due := p.start.Add(time.Duration(float64(p.n) / float64(p.bps) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		select {
		case <-time.After(d):
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
	return nil
}

type throttled struct {
	r io.Reader
	p *pacer
}

// throttle limits reads from r to bps bytes per second (0: no limit).
func throttle(ctx context.Context, r io.Reader, bps int64) io.Reader {
	if bps <= 0 {
		return r
	}
	return &throttled{r: r, p: &pacer{ctx: ctx, bps: bps, start: time.Now()}}
}

func (t *throttled) Read(b []byte) (int, error) {
	n, err := t.r.Read(t.p.limit(b))
	if perr := t.p.took(n); perr != nil && err == nil {
		err = perr
	}
	return n, err
}

type throttledAt struct {
	r io.ReaderAt
	p *pacer
}

// throttleAt limits ReadAt calls the same way.
func throttleAt(ctx context.Context, r io.ReaderAt, bps int64) io.ReaderAt {
	if bps <= 0 {
		return r
	}
	return &throttledAt{r: r, p: &pacer{ctx: ctx, bps: bps, start: time.Now()}}
}

func (t *throttledAt) ReadAt(b []byte, off int64) (int, error) {
	b = t.p.limit(b)
	n, err := t.r.ReadAt(b, off)
	if perr := t.p.took(n); perr != nil && err == nil {
		err = perr
	}
	return n, err
}

// parseRate reads "500K", "2M", "1G" or a plain number of bytes per second.
func parseRate(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("--limit-rate: %q is not a positive rate", s)
	}
	return n * mult, nil
}
