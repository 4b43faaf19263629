package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cofferhq/coffer/pkg/client"
)

// getResult is one downloaded file, as --json prints it.
type getResult struct {
	ID        string `json:"id"`
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	ResumedAt int64  `json:"resumed_at,omitempty"`
}

func (a *app) getCommand() *cobra.Command {
	var (
		out   string
		cont  bool
		force bool
		limit string
	)
	cmd := &cobra.Command{
		Use:   "get FILE...",
		Short: "Download files, with progress; -c resumes an interrupted download",
		Long: "Download files. FILE is a name (reports/q3.pdf), the start of an id (at least 6\n" +
			"characters) or a whole id. Each is written to PATH.part and renamed when complete\n" +
			"and its SHA-256 matches the server's Repr-Digest, so a failed download never leaves\n" +
			"a truncated file under the final name. -o names the file (or, with several files, a\n" +
			"folder; - writes to stdout). An existing local file is never replaced unless --force;\n" +
			"-c continues from a .part left by an interrupted get.",
		Example: "  coffer get reports/q3.pdf\n" +
			"  coffer get 0b7c5a -o copy.pdf\n" +
			"  coffer get reports/q3.pdf -o - | less\n" +
			"  coffer get -c big.iso --limit-rate 20M",
		Args:              minArgs(1),
		ValidArgsFunction: a.completeRemote,
		RunE: func(cmd *cobra.Command, args []string) error {
			bps, err := parseRate(limit)
			if err != nil {
				return err
			}
			if out == "-" && len(args) > 1 {
				return usagef("get: -o - takes one id")
			}
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			if out == "-" {
				f, err := resolve(cmd.Context(), c, args[0])
				if err != nil {
					return err
				}
				_, err = c.Download(cmd.Context(), f.ID, throttleWriter(cmd.Context(), a.stdout, bps), nil)
				return err
			}
			prog := a.newProgress(cmd.Context())
			var results []getResult
			for _, arg := range args {
				r, err := a.get(cmd.Context(), c, prog, arg, out, len(args) > 1, cont, force, bps)
				if err != nil {
					prog.wait()
					return fmt.Errorf("%s: %w", arg, err)
				}
				results = append(results, r)
				if !a.json && prog.p == nil {
					line := fmt.Sprintf("downloaded %s  %s  %s", r.ID, r.Path, human(r.Size))
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
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to PATH (a folder with several ids; - for stdout)")
	cmd.Flags().BoolVarP(&cont, "continue", "c", false, "resume an interrupted download")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "replace an existing local file")
	cmd.Flags().StringVar(&limit, "limit-rate", "", "limit the transfer rate, in bytes per second (suffixes K, M, G)")
	return cmd
}

func (a *app) get(ctx context.Context, c *client.Client, prog *progress, arg, out string, many, cont, force bool, bps int64) (getResult, error) {
	meta, err := resolve(ctx, c, arg)
	if err != nil {
		return getResult{}, err
	}
	id := meta.ID
	dest, err := destination(meta, out, many)
	if err != nil {
		return getResult{}, err
	}
	if _, err := os.Lstat(dest); err == nil && !force && !cont {
		return getResult{}, fmt.Errorf("%s already exists; add --force to replace it, or -o to choose another name", dest)
	}
	part := dest + ".part"
	absPart, _ := filepath.Abs(part)
	etag := `"` + meta.SHA256 + `"`

	var offset int64
	h := sha256.New()
	flags := os.O_RDWR | os.O_CREATE
	if cont && a.loadTransfers().Downloads[absPart] != "" {
		etag = a.loadTransfers().Downloads[absPart] // the bytes held are of this representation
		f, err := os.Open(part)
		if err == nil {
			offset, err = io.Copy(h, f)
			f.Close()
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return getResult{}, err
		}
	}
	if offset == 0 {
		flags |= os.O_TRUNC
		h.Reset()
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return getResult{}, err
	}
	defer f.Close()
	a.updateTransfers(func(t *transfers) { t.Downloads[absPart] = etag })

	res := getResult{ID: id, Path: dest, Size: meta.Size, ResumedAt: offset}
	b := prog.bar("get", meta.Name, meta.Size, offset)
	sum := ""
	if offset < meta.Size || meta.Size == 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return res, err
		}
		// Download hashes beside the writes and checks the whole file against Repr-Digest.
		opts := &client.DownloadOptions{Offset: offset, ETag: etag, Hash: h}
		_, err := c.Download(ctx, id, throttleWriter(ctx, b.writer(f), bps), opts)
		if errors.Is(err, client.ErrResumeRejected) { // the file changed: start again
			res.ResumedAt = 0
			if err = f.Truncate(0); err == nil {
				if _, err = f.Seek(0, io.SeekStart); err == nil {
					b.set(0)
					_, err = c.Download(ctx, id, throttleWriter(ctx, b.writer(f), bps), nil)
				}
			}
		}
		if errors.Is(err, client.ErrDigestMismatch) {
			b.finish(false)
			a.updateTransfers(func(t *transfers) { delete(t.Downloads, absPart) })
			os.Remove(part)
			return res, err
		}
		if err != nil {
			b.finish(false)
			return res, fmt.Errorf("%w (run get -c to resume)", err)
		}
		sum = meta.SHA256 // checked by Download
	} else if sum = hex.EncodeToString(h.Sum(nil)); sum != meta.SHA256 {
		b.finish(false)
		a.updateTransfers(func(t *transfers) { delete(t.Downloads, absPart) })
		os.Remove(part)
		return res, fmt.Errorf("the bytes held hash to %s, the file's SHA-256 is %s: %w", sum, meta.SHA256, client.ErrDigestMismatch)
	}
	b.finish(true)
	// No fsync, as with curl and wget: the rename guards against a failed or interrupted
	// download, and the digest check against damage in transit.
	if err := f.Close(); err != nil {
		return res, err
	}
	if err := os.Rename(part, dest); err != nil {
		return res, err
	}
	a.updateTransfers(func(t *transfers) { delete(t.Downloads, absPart) })
	res.SHA256 = sum
	return res, nil
}

// destination is where a download goes: -o, or the file's own name in the current folder.
func destination(f client.File, out string, many bool) (string, error) {
	name := safeName(f)
	switch {
	case out == "":
		return name, nil
	case many:
		if st, err := os.Stat(out); err != nil || !st.IsDir() {
			return "", usagef("with several ids, -o must be an existing folder")
		}
		return filepath.Join(out, name), nil
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return filepath.Join(out, name), nil
	}
	return out, nil
}

// safeName is a stored name fit to create in the current folder: no path, no dot names.
func safeName(f client.File) string {
	n := filepath.Base(strings.ReplaceAll(f.Name, "\\", "/"))
	if n == "." || n == ".." || n == "/" || n == "" || strings.ContainsRune(n, 0) {
		return f.ID
	}
	return n
}

// throttleWriter limits writes to w to bps bytes per second (0: no limit).
func throttleWriter(ctx context.Context, w io.Writer, bps int64) io.Writer {
	if bps <= 0 {
		return w
	}
	return &throttledWriter{w: w, p: &pacer{ctx: ctx, bps: bps, start: time.Now()}}
}

type throttledWriter struct {
	w io.Writer
	p *pacer
}

func (t *throttledWriter) Write(b []byte) (int, error) {
	n, err := t.w.Write(b)
	if perr := t.p.took(n); perr != nil && err == nil {
		err = perr
	}
	return n, err
}
