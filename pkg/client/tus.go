package client

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
)

// copyBuffer is the size of the buffers transfers are copied through.
const copyBuffer = 128 << 10

// tusVersion is the tus protocol version spoken (https://tus.io/protocols/resumable-upload).
const tusVersion = "1.0.0"

// ErrResumableUnsupported: the file service has no tus endpoint. Use Upload instead.
var ErrResumableUnsupported = errors.New("the service does not offer resumable uploads")

// ResumableOptions tune UploadResumable.
type ResumableOptions struct {
	// ContentType is the file's media type; default application/octet-stream.
	ContentType string
	// URL is an upload begun earlier (from OnCreate) to continue. When the service no
	// longer knows it, or it is for another size, a new upload is begun.
	URL string
	// OnCreate is called with the URL of a newly created upload, before any byte is sent,
	// so the caller can save it and resume after a crash.
	OnCreate func(uploadURL string)
	// OnProgress is called as bytes are sent, with the offset reached.
	OnProgress func(offset int64)
	// ChunkSize bounds the bytes of one PATCH request; default 0: the rest in one request.
	// The service keeps what arrived even when a request breaks, so chunks are not needed
	// for resuming; they bound what a proxy must buffer, and each answered chunk is a point
	// OnHashState can save.
	ChunkSize int64
	// OnHashState is called after each PATCH the service answered with the SHA-256 state
	// of the bytes [0, offset) (sha256's encoding.BinaryMarshaler form), for the caller to
	// save beside URL: a later resume given it as HashState does not re-read those bytes.
	OnHashState func(offset int64, state []byte)
	// HashState and HashOffset, from OnHashState of an earlier run of this upload (URL),
	// let a resume at or after HashOffset hash only the bytes from HashOffset on. A state
	// for more bytes than the service holds, or one that does not decode, is ignored.
	HashState  []byte
	HashOffset int64
}

// ResumableResult is the outcome of UploadResumable.
type ResumableResult struct {
	File File
	// ResumedAt is the offset the upload continued from (0 for a fresh upload).
	ResumedAt int64
	// URL is the tus upload URL used.
	URL string
}

// UploadResumable uploads size bytes of r as a file called name through the tus 1.0.0
// endpoint of the file service (/v1/uploads/), continuing opts.URL when it is given. The
// finished file's SHA-256 is checked against the bytes of r (ErrDigestMismatch).
func (c *Client) UploadResumable(ctx context.Context, name string, r io.ReaderAt, size int64, opts *ResumableOptions) (ResumableResult, error) {
	var o ResumableOptions
	if opts != nil {
		o = *opts
	}
	res := ResumableResult{URL: o.URL}
	offset := int64(-1)
	if res.URL != "" {
		off, length, err := c.UploadOffset(ctx, res.URL)
		switch {
		case err == nil && length == size:
			offset = off
		case err == nil, errors.Is(err, ErrNotFound), isGone(err):
			// another size, or expired/terminated: start again
		default:
			return res, err
		}
	}
	if offset < 0 {
		u, err := c.CreateUpload(ctx, name, size, o.ContentType)
		if err != nil {
			return res, err
		}
		res.URL, offset = u, 0
		if o.OnCreate != nil {
			o.OnCreate(u)
		}
	}
	res.ResumedAt = offset
	h := sha256.New()
	// saved is the last digest state known good: the one given (when it is of this upload)
	// and then the one after each answered PATCH.
	var saved struct {
		off   int64
		state []byte
	}
	if offset > 0 && o.HashState != nil && res.URL == o.URL && o.HashOffset <= offset {
		saved.off, saved.state = o.HashOffset, o.HashState
	}
	rehash := func(upTo int64) error { // the digest of [0, upTo): from the saved state if it can
		h.Reset()
		from := int64(0)
		if saved.state != nil && saved.off <= upTo && h.(encoding.BinaryUnmarshaler).UnmarshalBinary(saved.state) == nil {
			from = saved.off
		} else {
			h.Reset()
		}
		_, err := io.CopyBuffer(h, io.NewSectionReader(r, from, upTo-from), make([]byte, copyBuffer))
		return err
	}
	if offset > 0 { // the whole file's digest needs the bytes sent before
		if err := rehash(offset); err != nil {
			return res, fmt.Errorf("upload %s: read: %w", name, err)
		}
	}
	if o.OnProgress != nil {
		o.OnProgress(offset)
	}
	fileID := ""
	cuts := 0
	for offset < size || (size == 0 && fileID == "") {
		n := size - offset
		if o.ChunkSize > 0 {
			n = min(n, o.ChunkSize)
		}
		next, id, err := c.patch(ctx, res.URL, r, offset, n, h, o.OnProgress)
		if err != nil && (errors.Is(err, ErrNetwork) || offsetMoved(err)) && ctx.Err() == nil && cuts < uploadAttempts-1 {
			// The connection was cut, or the service holds other bytes than we thought (an
			// earlier request of ours, cut on our side, was still being read there when we
			// asked): ask the service what it holds. An upload it no longer knows was
			// completed (it became the file, and only the answer was lost).
			cuts++
			off, length, herr := c.UploadOffset(ctx, res.URL)
			switch {
			case herr == nil && length == size && off <= size:
				if err = rehash(off); err == nil {
					offset = off
					continue
				}
			case errors.Is(herr, ErrNotFound) || isGone(herr):
				if err = rehash(size); err == nil {
					offset, fileID = size, ""
					continue
				}
			}
		}
		if err != nil {
			return res, err
		}
		if next <= offset && n > 0 {
			return res, fmt.Errorf("upload %s: the service made no progress at offset %d", name, offset)
		}
		offset, fileID = next, id
		if st, err := h.(encoding.BinaryMarshaler).MarshalBinary(); err == nil && offset < size {
			saved.off, saved.state = offset, st
			if o.OnHashState != nil {
				o.OnHashState(offset, st)
			}
		}
		if size == 0 {
			break
		}
	}
	if fileID == "" {
		fileID = path.Base(strings.TrimRight(mustPath(res.URL), "/"))
	}
	f, err := c.Stat(ctx, fileID)
	if err != nil {
		return res, fmt.Errorf("upload %s: finished, but the file %s cannot be read back: %w", name, fileID, err)
	}
	if sum := h.Sum(nil); !equalHex(f.SHA256, sum) {
		_ = c.Delete(context.WithoutCancel(ctx), f.ID)
		return res, fmt.Errorf("upload %s: the service stored SHA-256 %s, %x was sent: %w", name, f.SHA256, sum, ErrDigestMismatch)
	}
	res.File = f
	return res, nil
}

// CreateUpload begins a tus upload of size bytes and returns its URL.
func (c *Client) CreateUpload(ctx context.Context, name string, size int64, contentType string) (string, error) {
	u, err := endpoint(c.files, "/v1/uploads/", nil)
	if err != nil {
		return "", err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h := http.Header{
		"Tus-Resumable":   {tusVersion},
		"Upload-Length":   {strconv.FormatInt(size, 10)},
		"Upload-Metadata": {"filename " + base64.StdEncoding.EncodeToString([]byte(name)) + ",filetype " + base64.StdEncoding.EncodeToString([]byte(contentType))},
	}
	resp, err := c.send(ctx, request{method: http.MethodPost, url: u, header: h, authed: true, what: "create upload " + name})
	if err != nil {
		var e *Error
		// No file can be missing here: a 404 or 405 means there is no such endpoint.
		if errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed) {
			return "", ErrResumableUnsupported
		}
		return "", err
	}
	defer resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create upload %s: status %d without a Location", name, resp.StatusCode)
	}
	return loc.String(), nil
}

// UploadOffset asks how many bytes of a tus upload the service holds, and its length.
func (c *Client) UploadOffset(ctx context.Context, uploadURL string) (offset, length int64, err error) {
	resp, err := c.send(ctx, request{method: http.MethodHead, url: uploadURL, header: http.Header{"Tus-Resumable": {tusVersion}}, authed: true, what: "upload status"})
	if err != nil {
		return 0, 0, err
	}
	resp.Body.Close()
	offset, err1 := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	length, err2 := strconv.ParseInt(resp.Header.Get("Upload-Length"), 10, 64)
	if err1 != nil || err2 != nil || offset < 0 || length < offset {
		return 0, 0, fmt.Errorf("upload status: bad Upload-Offset %q or Upload-Length %q", resp.Header.Get("Upload-Offset"), resp.Header.Get("Upload-Length"))
	}
	return offset, length, nil
}

// CancelUpload terminates a tus upload, freeing what the service held for it.
func (c *Client) CancelUpload(ctx context.Context, uploadURL string) error {
	resp, err := c.send(ctx, request{method: http.MethodDelete, url: uploadURL, header: http.Header{"Tus-Resumable": {tusVersion}}, authed: true, what: "cancel upload"})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// patch sends n bytes of body at offset and returns the new offset and, when the upload is
// complete, the file id the service named.
func (c *Client) patch(ctx context.Context, uploadURL string, r io.ReaderAt, offset, n int64, h hash.Hash, progress func(int64)) (int64, string, error) {
	hdr := http.Header{
		"Tus-Resumable": {tusVersion},
		"Content-Type":  {"application/offset+octet-stream"},
		"Upload-Offset": {strconv.FormatInt(offset, 10)},
	}
	var (
		body io.Reader
		fs   *fileSend
	)
	if f, ok := r.(*os.File); ok && n > 0 {
		body, fs, _ = startFileSend(f, offset, n, h, progress)
	}
	if fs == nil {
		body = &progressReader{r: io.NewSectionReader(r, offset, n), h: h, off: offset, fn: progress}
	}
	resp, err := c.send(ctx, request{method: http.MethodPatch, url: uploadURL, header: hdr, body: body, size: n, authed: true, what: "upload"})
	if fs != nil {
		if herr := fs.finish(err == nil); err == nil && herr != nil {
			resp.Body.Close()
			return 0, "", fmt.Errorf("upload: read: %w", herr)
		}
		if err == nil && progress != nil {
			progress(offset + n)
		}
	}
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	next, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || next < offset {
		return 0, "", fmt.Errorf("upload: bad Upload-Offset %q in the answer", resp.Header.Get("Upload-Offset"))
	}
	if next != offset+n {
		return 0, "", fmt.Errorf("upload: the service holds %d bytes, %d were sent", next, offset+n)
	}
	return next, resp.Header.Get("Coffer-File-Id"), nil
}

// progressReader hashes and counts what is read, and reports the offset reached.
type progressReader struct {
	r   io.Reader
	h   hash.Hash
	off int64
	n   int64
	fn  func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.off + p.n)
	}
	return n, err
}

// offsetMoved reports whether the service refused a PATCH because the upload's offset is not
// the one it was sent for (409), or because another request holds the upload (423): tus
// clients then ask for the offset again and continue, as tus-js-client does.
func offsetMoved(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusLocked)
}

func isGone(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusGone
}

func mustPath(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Path
}
