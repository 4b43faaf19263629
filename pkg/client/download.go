package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// DownloadOptions tune a download. The zero value fetches the whole file.
type DownloadOptions struct {
	// Offset is the first byte wanted, to resume: the caller already holds bytes
	// [0, Offset). Sent as Range: bytes=Offset-.
	Offset int64
	// ETag is the entity tag of the bytes already held, sent as If-Range so a changed file
	// is answered from the start instead of being spliced. Default: none (Range alone).
	ETag string
	// Hash, when Offset > 0, holds the SHA-256 state of the bytes already held, so the
	// whole file can be checked against Repr-Digest. Without it a resumed download is not
	// checked (a download from the start always is).
	Hash hash.Hash
}

// Content is an open download: the body and what the headers say about it.
type Content struct {
	// Body yields the bytes from Offset to the end. Close it.
	Body io.ReadCloser
	// Offset is where Body starts: the requested offset when the service honoured the range,
	// 0 when it answered with the whole file.
	Offset int64
	// Size is the size of the whole file.
	Size int64
	// ETag is the strong entity tag of the file (its quoted hex SHA-256).
	ETag string
	// SHA256 is the file's digest from Repr-Digest; nil if the service sent none.
	SHA256 []byte
	// Name is the file name from Content-Disposition, if any.
	Name string
	// ContentType is the file's media type.
	ContentType string
}

// Open starts downloading a file's content.
func (c *Client) Open(ctx context.Context, id string, opts *DownloadOptions) (*Content, error) {
	u, err := c.fileURL(id, "/content", nil)
	if err != nil {
		return nil, err
	}
	return c.open(ctx, u, "download "+id, true, opts)
}

// OpenLink starts downloading through a signed link URL, without a token.
func (c *Client) OpenLink(ctx context.Context, linkURL string, opts *DownloadOptions) (*Content, error) {
	return c.open(ctx, linkURL, "link download", false, opts)
}

func (c *Client) open(ctx context.Context, u, what string, authed bool, opts *DownloadOptions) (*Content, error) {
	var o DownloadOptions
	if opts != nil {
		o = *opts
	}
	h := http.Header{}
	if o.Offset > 0 {
		h.Set("Range", "bytes="+strconv.FormatInt(o.Offset, 10)+"-")
		if o.ETag != "" {
			h.Set("If-Range", o.ETag)
		}
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, url: u, header: h, authed: authed, what: what})
	if err != nil {
		var e *Error
		if o.Offset > 0 && asError(err, &e) && e.Status == http.StatusRequestedRangeNotSatisfiable {
			return nil, fmt.Errorf("%s: offset %d is past the end of the file: %w", what, o.Offset, err)
		}
		return nil, err
	}
	ct := &Content{Body: resp.Body, ETag: resp.Header.Get("ETag"), ContentType: resp.Header.Get("Content-Type")}
	digestHeader := resp.Header.Get("Repr-Digest")
	if digestHeader == "" && resp.Request != nil && resp.Request.Response != nil {
		// Redirected (a file node in S3 redirect mode): the object store does not know the
		// file's digest; the 307 that sent us there carried it.
		digestHeader = resp.Request.Response.Header.Get("Repr-Digest")
	}
	if sum, err := ParseDigest(digestHeader); err == nil {
		ct.SHA256 = sum
	}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		ct.Name = params["filename"] // mime decodes filename* into filename
	}
	switch resp.StatusCode {
	case http.StatusOK:
		ct.Size = resp.ContentLength
	case http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != o.Offset {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: unexpected Content-Range %q: %w", what, resp.Header.Get("Content-Range"), ErrInvalid)
		}
		ct.Offset, ct.Size = start, size
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: unexpected status %d", what, resp.StatusCode)
	}
	return ct, nil
}

// Download writes a file's content to w and returns what the headers said about it. From
// the start (Offset 0), or with opts.Hash, the bytes are checked against the Repr-Digest
// (ErrDigestMismatch). When resuming, a service that answers from the start (the file
// changed, so If-Range failed) gets ErrResumeRejected and nothing is written.
func (c *Client) Download(ctx context.Context, id string, w io.Writer, opts *DownloadOptions) (*Content, error) {
	ct, err := c.Open(ctx, id, opts)
	if err != nil {
		return nil, err
	}
	return ct, ct.copyTo(w, opts)
}

// DownloadLink is Download through a signed link URL, without a token.
func (c *Client) DownloadLink(ctx context.Context, linkURL string, w io.Writer, opts *DownloadOptions) (*Content, error) {
	ct, err := c.OpenLink(ctx, linkURL, opts)
	if err != nil {
		return nil, err
	}
	return ct, ct.copyTo(w, opts)
}

func (ct *Content) copyTo(w io.Writer, opts *DownloadOptions) error {
	defer ct.Body.Close()
	var o DownloadOptions
	if opts != nil {
		o = *opts
	}
	if o.Offset > 0 && ct.Offset == 0 {
		return ErrResumeRejected
	}
	h := o.Hash
	if ct.Offset == 0 || h == nil {
		h = sha256.New()
	}
	hw := newHashBehind(w, h)
	n, err := io.CopyBuffer(hw, ct.Body, make([]byte, copyBuffer))
	hw.Close()
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if ct.Size >= 0 && ct.Offset+n != ct.Size {
		return fmt.Errorf("download: got %d of %d bytes: %w", ct.Offset+n, ct.Size, ErrNetwork)
	}
	if ct.SHA256 != nil && (ct.Offset == 0 || o.Hash != nil) {
		if got := h.Sum(nil); hex.EncodeToString(got) != hex.EncodeToString(ct.SHA256) {
			return fmt.Errorf("download: received bytes hash to %x, Repr-Digest says %x: %w", got, ct.SHA256, ErrDigestMismatch)
		}
	}
	return nil
}

// parseContentRange reads "bytes start-end/size".
func parseContentRange(v string) (start, size int64, ok bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, total, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	s, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	size, err2 := strconv.ParseInt(total, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || size < start {
		return 0, 0, false
	}
	return start, size, true
}
