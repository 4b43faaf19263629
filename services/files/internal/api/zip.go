package api

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// maxZipIDs bounds the files a selection zip names (GET /v1/zip?id=...&id=...).
const maxZipIDs = 1000

// handleZip answers GET /v1/zip?prefix=reports/2026/ (a folder and everything below it, the
// caller's own files) or ?id=A&id=B (a selection of files the caller may read). The archive is
// streamed as it is written: one blob open at a time, a fixed copy buffer, no temporary file,
// entries stored (no compression: most files people keep are compressed already, and the CPU
// stays free). Entry names are relative (to the folder's parent, or to the selection's common
// folder) and safe for every unzip (zipName). An error once the archive has begun aborts the
// connection, so a client never mistakes a cut archive for a whole one.
func (s *Server) handleZip() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.opts.Folders == nil {
			s.error(c, files.ErrNotFound)
			return
		}
		ctx, ownerID := c.Request.Context(), owner(c)
		prefix, hasPrefix := c.GetQuery("prefix")
		ids := c.QueryArray("id")
		var list []files.File
		var base, archive string
		switch {
		case hasPrefix == (len(ids) > 0):
			s.error(c, files.Invalid("name either a folder (prefix) or files (id)"))
			return
		case hasPrefix:
			if err := files.ValidateFolder(prefix); err != nil {
				s.error(c, err)
				return
			}
			// The first file is looked up before the answer begins, so an empty or unknown
			// folder is a clean 404 rather than an empty archive.
			err := s.opts.Folders.Walk(ctx, ownerID, prefix, func(f files.File) error {
				list = append(list, f)
				return errFirstFound
			})
			if err != nil && !errors.Is(err, errFirstFound) {
				s.error(c, err)
				return
			}
			if len(list) == 0 {
				s.error(c, files.ErrNotFound)
				return
			}
			base = parentFolder(prefix)
			archive = path.Base(strings.TrimSuffix(prefix, "/"))
			if prefix == "" {
				archive = "files"
			}
		default:
			if len(ids) > maxZipIDs {
				s.error(c, files.Invalid("a zip names at most %d files", maxZipIDs))
				return
			}
			seen := map[uuid.UUID]bool{}
			for _, raw := range ids {
				id, err := uuid.Parse(raw)
				if err != nil || len(raw) != 36 {
					s.error(c, files.ErrNotFound)
					return
				}
				if seen[id] {
					continue
				}
				seen[id] = true
				f, err := s.files.Get(ctx, ownerID, id)
				if err != nil {
					s.error(c, err)
					return
				}
				list = append(list, f)
			}
			base = commonFolder(list)
			archive = "files"
			if base != "" {
				archive = path.Base(strings.TrimSuffix(base, "/"))
			}
		}

		h := c.Writer.Header()
		h.Set("Content-Type", "application/zip")
		h.Set("Content-Disposition", contentDisposition(archive+".zip"))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "private, no-store")
		c.Status(http.StatusOK)
		if c.Request.Method == http.MethodHead {
			return
		}
		zw := newZipStream(c.Writer, base)
		write := func(f files.File) error { return zw.add(c, s.opts.Folders, f) }
		var err error
		if hasPrefix {
			err = s.opts.Folders.Walk(ctx, ownerID, prefix, write)
		} else {
			for _, f := range list {
				if err = write(f); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = zw.w.Close()
		}
		if err != nil {
			if ctx.Err() == nil {
				s.logger.WarnContext(ctx, "zip cut short", "err", err)
			}
			panic(http.ErrAbortHandler)
		}
	}
}

// errFirstFound stops the walk that checks a folder is not empty.
var errFirstFound = errors.New("found")

// zipStream writes files into a zip as they come, with unique safe names.
type zipStream struct {
	w     *zip.Writer
	base  string
	names map[string]bool
	buf   []byte
}

func newZipStream(w io.Writer, base string) *zipStream {
	return &zipStream{w: zip.NewWriter(w), base: base, names: map[string]bool{}, buf: make([]byte, 128<<10)}
}

func (z *zipStream) add(c *gin.Context, folders Folders, f files.File) error {
	blob, err := folders.OpenBlob(c.Request.Context(), f)
	if errors.Is(err, files.ErrNotFound) {
		return nil // deleted since it was listed
	}
	if err != nil {
		return err
	}
	defer blob.Close()
	name := z.unique(zipName(strings.TrimPrefix(f.Name, z.base)))
	hdr := &zip.FileHeader{Name: name, Method: zip.Store, Modified: f.CreatedAt}
	hdr.SetMode(0o644)
	w, err := z.w.CreateHeader(hdr)
	if err != nil {
		return err
	}
	n, err := io.CopyBuffer(w, io.LimitReader(blob, f.Size), z.buf)
	if err == nil && n != f.Size {
		err = fmt.Errorf("blob of %s is %d bytes, want %d", f.ID, n, f.Size)
	}
	return err
}

// unique gives a name that is already in the archive a " (2)", " (3)"... before its extension
// (two files may share a name, or become one after zipName).
func (z *zipStream) unique(name string) string {
	if !z.names[strings.ToLower(name)] {
		z.names[strings.ToLower(name)] = true
		return name
	}
	ext := path.Ext(name)
	if strings.Contains(ext, "/") || ext == name {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	for i := 2; ; i++ {
		n := fmt.Sprintf("%s (%d)%s", stem, i, ext)
		if !z.names[strings.ToLower(n)] {
			z.names[strings.ToLower(n)] = true
			return n
		}
	}
}

// zipName makes a name safe as a zip entry on every system: relative, "/"-separated, no "."
// or ".." or empty segment (names stored before folders were validated may have them), no
// character Windows refuses, no segment ending in a dot or space, no device name.
func zipName(name string) string {
	var segs []string
	for seg := range strings.SplitSeq(name, "/") {
		var b strings.Builder
		for _, r := range seg {
			if r < 0x20 || r == 0x7f || strings.ContainsRune(`\:*?"<>|`, r) {
				r = '_'
			}
			b.WriteRune(r)
		}
		seg = strings.TrimRight(b.String(), ". ")
		if seg == "" {
			continue
		}
		stem, _, _ := strings.Cut(seg, ".")
		switch strings.ToUpper(stem) {
		case "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
			"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
			seg = "_" + seg
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return "file"
	}
	return strings.Join(segs, "/")
}

// parentFolder is the folder holding a folder prefix ("a/b/" -> "a/", "a/" -> "").
func parentFolder(prefix string) string {
	p := strings.TrimSuffix(prefix, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i+1]
	}
	return ""
}

// commonFolder is the deepest folder holding every file of list ("" if none but the top).
func commonFolder(list []files.File) string {
	common := ""
	for i, f := range list {
		dir := ""
		if j := strings.LastIndex(f.Name, "/"); j >= 0 {
			dir = f.Name[:j+1]
		}
		if i == 0 {
			common = dir
			continue
		}
		for !strings.HasPrefix(dir, common) {
			common = parentFolder(common)
		}
	}
	return common
}
