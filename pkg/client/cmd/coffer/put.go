package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
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

// putJob is one upload: a local file (or stdin) and the name it gets.
type putJob struct {
	path string // "-" for stdin
	name string
}

func (a *app) putCommand() *cobra.Command {
	var (
		noResume  bool
		limit     string
		recursive bool
		name      string
		ifExists  string
	)
	cmd := &cobra.Command{
		Use:   "put FILE... | put -r DIR [FOLDER] | put - --name NAME",
		Short: "Upload files, with progress; an interrupted upload resumes on the next put",
		Long: "Upload files. Each is sent through the resumable (tus) endpoint when the server\n" +
			"has one: if the upload is interrupted, running the same put again continues where\n" +
			"it stopped (as long as the file is unchanged). The SHA-256 of what was sent is\n" +
			"checked against what the server stored. Each file's id and name are printed.\n\n" +
			"-r uploads a folder with its structure, under FOLDER (default: the folder's own\n" +
			"name). - reads stdin (give it a --name). A name that is already taken follows\n" +
			"--if-exists: fail (the default: nothing is sent, the existing id is shown), skip,\n" +
			"rename (to \"name (2).ext\") or overwrite (the old file is deleted once the new one\n" +
			"is stored).",
		Example: "  coffer put report.pdf photos/*.jpg\n" +
			"  coffer put --name reports/2026/q3.pdf q3-final.pdf\n" +
			"  coffer put -r ./photos holidays/2026\n" +
			"  tar c src | coffer put - --name backups/src.tar\n" +
			"  coffer put --if-exists=overwrite notes.txt",
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bps, err := parseRate(limit)
			if err != nil {
				return err
			}
			mode, ok := map[string]existsMode{"fail": existsFail, "skip": existsSkip, "rename": existsRename, "overwrite": existsOverwrite}[ifExists]
			if !ok {
				return usagef("put: --if-exists must be fail, skip, rename or overwrite")
			}
			jobs, err := putJobs(args, recursive, name)
			if err != nil {
				return err
			}
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			prog := a.newProgress(cmd.Context())
			var results []putResult
			var lines []string
			say := func(line string) {
				if a.json {
					return
				}
				if prog.p == nil {
					fprintf(a.stdout, "%s\n", line)
				} else {
					lines = append(lines, line) // after the bars
				}
			}
			var failed error
			for _, j := range jobs {
				r, skipped, err := a.putOne(cmd.Context(), c, prog, j, mode, !noResume, bps)
				if err != nil {
					failed = fmt.Errorf("%s: %w", j.path, err)
					break
				}
				if skipped {
					say(fmt.Sprintf("skipped %s  %s  (exists)", r.Name, r.ID))
					continue
				}
				results = append(results, r)
				line := fmt.Sprintf("uploaded %s  %s  %s", r.Name, r.ID, human(r.Size))
				if r.ResumedAt > 0 {
					line += fmt.Sprintf("  (resumed at %s)", human(r.ResumedAt))
				}
				say(line)
			}
			prog.wait()
			for _, l := range lines {
				fprintf(a.stdout, "%s\n", l)
			}
			if failed != nil {
				return failed
			}
			if a.json {
				if results == nil {
					results = []putResult{}
				}
				return a.printJSON(results)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noResume, "no-resume", false, "send each file in one plain request (not resumable)")
	cmd.Flags().StringVar(&limit, "limit-rate", "", "limit the transfer rate, in bytes per second (suffixes K, M, G)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "upload a folder and everything in it")
	cmd.Flags().StringVar(&name, "name", "", "the name to store one file (or stdin) under; may hold folders (a/b.txt)")
	cmd.Flags().StringVar(&ifExists, "if-exists", "fail", "when the name is taken: fail, skip, rename or overwrite")
	return cmd
}

// putJobs turns put's arguments into uploads and their names.
func putJobs(args []string, recursive bool, name string) ([]putJob, error) {
	switch {
	case recursive:
		if len(args) > 2 {
			return nil, usagef("put -r takes one folder and, optionally, the remote folder to put it in")
		}
		if name != "" {
			return nil, usagef("put -r: use the FOLDER argument instead of --name")
		}
		dir := args[0]
		folder := filepath.Base(filepath.Clean(dir))
		if len(args) == 2 {
			folder = args[1]
		}
		folder = strings.Trim(filepath.ToSlash(folder), "/")
		if folder == "." || folder == "/" {
			folder = ""
		}
		var jobs []putJob
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil // folders are walked; links and devices are not files to send
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			n := filepath.ToSlash(rel)
			if folder != "" {
				n = folder + "/" + n
			}
			jobs = append(jobs, putJob{path: p, name: n})
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(jobs) == 0 {
			return nil, usagef("put -r: %s holds no files", dir)
		}
		return jobs, nil
	case name != "" && len(args) > 1:
		return nil, usagef("put: --name names one file")
	case args[0] == "-" && (name == "" || len(args) > 1):
		return nil, usagef("put -: stdin needs a name: put - --name NAME")
	}
	var jobs []putJob
	for _, p := range args {
		n := name
		if n == "" {
			n = filepath.Base(p)
		}
		if p == "-" && len(args) > 1 {
			return nil, usagef("put: - (stdin) goes alone")
		}
		jobs = append(jobs, putJob{path: p, name: n})
	}
	return jobs, nil
}

// existsMode is what put does when a name is taken (--if-exists).
type existsMode int

const (
	existsFail existsMode = iota
	existsSkip
	existsRename
	existsOverwrite
)

// putOne uploads one job, following mode when its name is taken. skipped reports a file left
// alone (res then describes the existing file).
func (a *app) putOne(ctx context.Context, c *client.Client, prog *progress, j putJob, mode existsMode, resumable bool, bps int64) (res putResult, skipped bool, err error) {
	existing, err := sameName(ctx, c, j.name)
	if err != nil {
		return res, false, err
	}
	if len(existing) > 0 {
		switch mode {
		case existsFail:
			return res, false, fmt.Errorf("%s already exists (id %s); choose --if-exists=skip, rename or overwrite, or another --name", j.name, existing[0].ID)
		case existsSkip:
			return putResult{File: existing[0], Path: j.path}, true, nil
		case existsRename:
			if j.name, err = freeName(ctx, c, j.name); err != nil {
				return res, false, err
			}
		}
	}
	if j.path == "-" {
		res, err = a.putStdin(ctx, c, j.name, bps)
	} else {
		res, err = a.put(ctx, c, prog, j.path, j.name, resumable, bps)
	}
	if err != nil {
		return res, false, err
	}
	if mode == existsOverwrite {
		for _, f := range existing {
			if err := c.Delete(ctx, f.ID); err != nil && !errors.Is(err, client.ErrNotFound) {
				return res, false, fmt.Errorf("stored as %s, but the old %s could not be deleted: %w", res.ID, f.ID, err)
			}
		}
	}
	return res, false, nil
}

// sameName lists the caller's files called exactly name.
func sameName(ctx context.Context, c *client.Client, name string) ([]client.File, error) {
	var out []client.File
	for f, err := range c.List(ctx, &client.ListOptions{Prefix: name, PageSize: 1000}) {
		if err != nil {
			return nil, err
		}
		if f.Name == name {
			out = append(out, f)
		}
	}
	return out, nil
}

// freeName is name with " (2)", " (3)"... before its extension, the first that is not taken.
func freeName(ctx context.Context, c *client.Client, name string) (string, error) {
	dir, base := "", name
	if i := strings.LastIndex(name, "/"); i >= 0 {
		dir, base = name[:i+1], name[i+1:]
	}
	ext := filepath.Ext(base)
	if ext == base {
		ext = ""
	}
	stem := strings.TrimSuffix(base, ext)
	taken := map[string]bool{}
	for f, err := range c.List(ctx, &client.ListOptions{Prefix: dir + stem + " (", PageSize: 1000}) {
		if err != nil {
			return "", err
		}
		taken[f.Name] = true
	}
	for i := 2; ; i++ {
		if n := fmt.Sprintf("%s%s (%d)%s", dir, stem, i, ext); !taken[n] {
			return n, nil
		}
	}
}

// putStdin streams stdin as one plain upload (stdin cannot be resumed).
func (a *app) putStdin(ctx context.Context, c *client.Client, name string, bps int64) (putResult, error) {
	ct := mime.TypeByExtension(path.Ext(name))
	f, err := c.Upload(ctx, name, throttle(ctx, a.stdin, bps), &client.UploadOptions{Size: -1, ContentType: ct, IdempotencyKey: client.NewIdempotencyKey()})
	return putResult{File: f, Path: "-"}, err
}

func (a *app) put(ctx context.Context, c *client.Client, prog *progress, path, name string, resumable bool, bps int64) (putResult, error) {
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
		return putResult{}, usagef("%s is not a regular file (put -r uploads a folder)", path)
	}
	ct := mime.TypeByExtension(filepath.Ext(name))
	res := putResult{Path: path}
	if resumable {
		abs, _ := filepath.Abs(path)
		key := abs + "|" + strconv.FormatInt(st.Size(), 10) + "|" + strconv.FormatInt(st.ModTime().UnixNano(), 10) + "|" + name
		tr := a.loadTransfers()
		saved, ck := tr.Uploads[key], tr.Hashes[key]
		var (
			mu sync.Mutex // OnProgress runs on the transport's goroutine
			b  *bar
		)
		r, err := c.UploadResumable(ctx, name, throttleAt(ctx, f, bps), st.Size(), &client.ResumableOptions{
			ContentType: ct,
			URL:         saved,
			HashState:   ck.State,
			HashOffset:  ck.Offset,
			// Chunks of 64 MiB: each answered one saves the digest state, so a resume
			// re-reads at most one chunk of what was sent.
			ChunkSize: 64 << 20,
			OnCreate: func(u string) {
				a.updateTransfers(func(t *transfers) { t.Uploads[key] = u; delete(t.Hashes, key) })
			},
			OnHashState: func(off int64, st []byte) {
				a.updateTransfers(func(t *transfers) { t.Hashes[key] = hashCheckpoint{Offset: off, State: st} })
			},
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
			a.updateTransfers(func(t *transfers) { delete(t.Uploads, key); delete(t.Hashes, key) })
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
	file, err := c.Upload(ctx, name, body, &client.UploadOptions{Size: st.Size(), ContentType: ct, OnProgress: b.set,
		IdempotencyKey: client.NewIdempotencyKey()}) // a cut answer is retried with it
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
