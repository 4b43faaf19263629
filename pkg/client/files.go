package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// UploadOptions tune Upload. The zero value is a streamed upload of unknown length.
type UploadOptions struct {
	// ContentType is the file's media type; default application/octet-stream.
	ContentType string
	// Size is the exact length of the body, sent as Content-Length; -1 or 0 with a
	// non-empty body means unknown (sent chunked). Set it when known: the service refuses
	// an oversized upload before it starts.
	Size int64
	// SHA256, when known, is sent as the Repr-Digest (RFC 9530) and the service refuses
	// bytes that do not match it. When nil the client hashes while it streams and checks
	// the digest the service answers with.
	SHA256 []byte
	// OnProgress is called as bytes are sent, with the count so far.
	OnProgress func(sent int64)
	// IdempotencyKey, when set, is sent as the Idempotency-Key header (NewIdempotencyKey
	// makes one): the service answers a repeat of the upload with the file the first one
	// stored. When the body is an *os.File with Size set, an upload whose answer is lost
	// (the connection cut after the service stored the file) is sent again with the same key,
	// and so succeeds without a second file.
	IdempotencyKey string
}

// uploadAttempts is how many times Upload sends a re-readable body with an idempotency key
// before it gives up on the network.
const uploadAttempts = 3

// NewIdempotencyKey returns a random key for UploadOptions.IdempotencyKey.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Upload streams r to the file service as a new file called name. The SHA-256 of the bytes
// sent is checked against the service's Repr-Digest; on a mismatch the file is deleted and
// ErrDigestMismatch returned.
func (c *Client) Upload(ctx context.Context, name string, r io.Reader, opts *UploadOptions) (File, error) {
	var o UploadOptions
	if opts != nil {
		o = *opts
	}
	file, retry := r.(*os.File)
	retry = retry && o.IdempotencyKey != "" && o.Size > 0
	var start int64
	if retry {
		var err error
		if start, err = file.Seek(0, io.SeekCurrent); err != nil {
			retry = false
		}
	}
	for attempt := 1; ; attempt++ {
		f, err := c.upload(ctx, name, r, o)
		if !retry || !errors.Is(err, ErrNetwork) || attempt == uploadAttempts || ctx.Err() != nil {
			return f, err
		}
		if _, err := file.Seek(start, io.SeekStart); err != nil {
			return File{}, fmt.Errorf("upload %s: %w", name, err)
		}
	}
}

func (c *Client) upload(ctx context.Context, name string, r io.Reader, o UploadOptions) (File, error) {
	u, err := endpoint(c.files, "/v1/files", url.Values{"name": {name}})
	if err != nil {
		return File{}, err
	}
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := http.Header{"Content-Type": {ct}, "Accept": {"application/json"}}
	if o.SHA256 != nil {
		h.Set("Repr-Digest", FormatDigest(o.SHA256))
	}
	if o.IdempotencyKey != "" {
		h.Set("Idempotency-Key", `"`+o.IdempotencyKey+`"`)
	}
	size := o.Size
	if size == 0 {
		size = -1
	}
	hasher := sha256.New()
	var (
		body io.Reader
		fs   *fileSend
	)
	if file, ok := r.(*os.File); ok && size > 0 {
		// A file is sent by the kernel and hashed beside the send.
		pos, err := file.Seek(0, io.SeekCurrent)
		if err != nil {
			return File{}, fmt.Errorf("upload %s: %w", name, err)
		}
		var progress func(int64)
		if o.OnProgress != nil {
			progress = func(off int64) { o.OnProgress(off - pos) }
		}
		body, fs, _ = startFileSend(file, pos, size, hasher, progress)
	}
	if fs == nil {
		body = &progressReader{r: r, h: hasher, fn: o.OnProgress}
	}
	resp, err := c.send(ctx, request{method: http.MethodPost, url: u, header: h, body: body, size: size, authed: true, what: "upload " + name})
	if fs != nil {
		if herr := fs.finish(err == nil); err == nil && herr != nil {
			resp.Body.Close()
			return File{}, fmt.Errorf("upload %s: read: %w", name, herr)
		}
	}
	if err != nil {
		return File{}, err
	}
	defer resp.Body.Close()
	if o.OnProgress != nil && size > 0 {
		o.OnProgress(size)
	}
	var f File
	if err := decodeJSON(resp, &f); err != nil {
		return File{}, err
	}
	sum := hasher.Sum(nil)
	got, err := ParseDigest(resp.Header.Get("Repr-Digest"))
	if resp.Header.Get("Idempotent-Replayed") == "true" {
		// The answer of an earlier upload with this key, given before this body was read: a
		// file was hashed whole beside the send; a stream was not, and the file is the
		// first upload's, checked then. Never delete it.
		if err != nil || got == nil || !equalHex(f.SHA256, got) || (fs != nil && !equalHex(f.SHA256, sum)) {
			return File{}, fmt.Errorf("upload %s: the file stored earlier with this idempotency key has SHA-256 %s, not that of these bytes: %w", name, f.SHA256, ErrDigestMismatch)
		}
		return f, nil
	}
	if err != nil || got == nil || !equalHex(f.SHA256, got) || !equalHex(f.SHA256, sum) {
		_ = c.Delete(context.WithoutCancel(ctx), f.ID)
		return File{}, fmt.Errorf("upload %s: the service stored SHA-256 %s, %x was sent: %w", name, f.SHA256, sum, ErrDigestMismatch)
	}
	return f, nil
}

// Stat returns a file's metadata.
func (c *Client) Stat(ctx context.Context, id string) (File, error) {
	u, err := c.fileURL(id, "", nil)
	if err != nil {
		return File{}, err
	}
	var f File
	err = c.doJSON(ctx, http.MethodGet, u, true, nil, &f)
	return f, err
}

// Delete removes a file (owner only).
func (c *Client) Delete(ctx context.Context, id string) error {
	u, err := c.fileURL(id, "", nil)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodDelete, u, true, nil, nil)
}

// ListOptions select and page a listing.
type ListOptions struct {
	// Prefix keeps files whose name starts with it.
	Prefix string
	// Shared lists the files others shared with the caller instead of the caller's own.
	Shared bool
	// PageSize is how many files each request asks for (1..1000); default 50.
	PageSize int
	// Sort orders the files by "name", "size" or "modified" (the date stored), ties by id;
	// empty: newest first. Order is "asc" (the default) or "desc". The server refuses other
	// values (invalid_sort) and a shared listing's sort.
	Sort, Order string
}

// ListPage returns one page of the caller's files, newest first or in opts' sort, starting
// at cursor (empty for the first page; a cursor belongs to its sort).
func (c *Client) ListPage(ctx context.Context, opts *ListOptions, cursor string) (Page, error) {
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	q := url.Values{}
	if o.PageSize > 0 {
		q.Set("limit", strconv.Itoa(o.PageSize))
	}
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	if o.Shared {
		q.Set("shared", "true")
	}
	if o.Sort != "" {
		q.Set("sort", o.Sort)
	}
	if o.Order != "" {
		q.Set("order", o.Order)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	u, err := endpoint(c.files, "/v1/files", q)
	if err != nil {
		return Page{}, err
	}
	var p Page
	err = c.doJSON(ctx, http.MethodGet, u, true, nil, &p)
	return p, err
}

// List yields every file of the listing, fetching pages as the loop needs them. An error
// ends the sequence after it is yielded.
func (c *Client) List(ctx context.Context, opts *ListOptions) iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		cursor := ""
		for {
			p, err := c.ListPage(ctx, opts, cursor)
			if err != nil {
				yield(File{}, err)
				return
			}
			for _, f := range p.Files {
				if !yield(f, nil) {
					return
				}
			}
			if p.NextCursor == nil || *p.NextCursor == "" || *p.NextCursor == cursor {
				return
			}
			cursor = *p.NextCursor
		}
	}
}

// Share grants the user called username read access to a file (owner only; needs the
// files:share scope).
func (c *Client) Share(ctx context.Context, id, username string) (Share, error) {
	return c.share(ctx, id, shareRequest{Username: username})
}

// ShareWithUserID grants read access to the user whose tokens carry userID as sub.
func (c *Client) ShareWithUserID(ctx context.Context, id, userID string) (Share, error) {
	return c.share(ctx, id, shareRequest{UserID: userID})
}

func (c *Client) share(ctx context.Context, id string, req shareRequest) (Share, error) {
	u, err := c.fileURL(id, "/shares", nil)
	if err != nil {
		return Share{}, err
	}
	var s Share
	err = c.doJSON(ctx, http.MethodPost, u, true, req, &s)
	return s, err
}

// Unshare revokes a user's access to a file, by the user's id (see LookupUser).
func (c *Client) Unshare(ctx context.Context, id, userID string) error {
	u, err := c.fileURL(id, "/shares/"+url.PathEscape(userID), nil)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodDelete, u, true, nil, nil)
}

// CreateLink makes a download link to a file, valid for expiresIn (rounded up to a second)
// and, when maxDownloads > 0, for that many downloads' worth of bytes (see CreateLinkWith).
func (c *Client) CreateLink(ctx context.Context, id string, expiresIn time.Duration, maxDownloads int) (Link, error) {
	return c.CreateLinkWith(ctx, id, LinkOptions{ExpiresIn: expiresIn, MaxDownloads: maxDownloads})
}

// RevokeLink revokes a signed link at once.
func (c *Client) RevokeLink(ctx context.Context, id, linkID string) error {
	u, err := c.fileURL(id, "/links/"+url.PathEscape(linkID), nil)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodDelete, u, true, nil, nil)
}

func (c *Client) fileURL(id, sub string, q url.Values) (string, error) {
	if id == "" {
		return "", fmt.Errorf("client: empty file id: %w", ErrInvalid)
	}
	return endpoint(c.files, "/v1/files/"+url.PathEscape(id)+sub, q)
}

// decodeJSON reads a success answer's JSON into out. An answer that is not JSON, or not the
// JSON expected, comes from something other than a Coffer service (a web server, a proxy's
// page): that is what the error says, not what the decoder found.
func decodeJSON(resp *http.Response, out any) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return notCoffer(resp, fmt.Sprintf("answered with %s, not JSON", orUnknown(mt)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return notCoffer(resp, "answered with JSON that is not what a Coffer service sends")
	}
	return nil
}

// FormatDigest is the RFC 9530 Repr-Digest value for a SHA-256.
func FormatDigest(sum []byte) string {
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":"
}

// ParseDigest reads the sha-256 member of a Repr-Digest or Content-Digest field. It returns
// nil when the field has none.
func ParseDigest(field string) ([]byte, error) {
	for _, member := range strings.Split(field, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || key != "sha-256" {
			continue
		}
		if i := strings.IndexByte(val, ';'); i >= 0 {
			val = val[:i]
		}
		if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			return nil, fmt.Errorf("client: malformed sha-256 digest %q", val)
		}
		b, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1])
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("client: malformed sha-256 digest %q", val)
		}
		return b, nil
	}
	return nil, nil
}

func equalHex(h string, sum []byte) bool { return h == hex.EncodeToString(sum) }
