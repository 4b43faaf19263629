// Package s3 is a files.BlobStore on S3-compatible object storage, through the AWS SDK for Go v2.
//
// Uploads stream through the SDK's transfer manager, so a request body of any size is sent in
// fixed-size parts and memory stays near PartSize × (Concurrency + 2) per upload; an object becomes
// visible only when its upload completes, and a failed or cancelled upload is aborted so no
// parts are left behind (SweepIncomplete aborts the few a crash strands). Downloads read with
// ranged GETs, so http.ServeContent can serve ranges without fetching the whole object.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// S3API is the part of the SDK's *s3.Client this package uses.
type S3API interface {
	transfermanager.S3APIClient
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, opts ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
	ListParts(ctx context.Context, in *s3.ListPartsInput, opts ...func(*s3.Options)) (*s3.ListPartsOutput, error)
}

// Config locates the bucket and tunes uploads.
type Config struct {
	// Endpoint is the base URL of an S3-compatible server, such as "http://127.0.0.1:7070".
	// Empty means AWS itself, chosen by Region.
	Endpoint string
	// Region is the signing region. Default "us-east-1".
	Region string
	// Bucket holds the blobs; it must exist. Required.
	Bucket string
	// Prefix is put before every key, so one bucket can serve several deployments. A
	// trailing "/" is added when missing. Default none.
	Prefix string
	// AccessKey and SecretKey are static credentials. Both required.
	AccessKey, SecretKey string
	// PathStyle addresses the bucket in the path rather than the host name, as most
	// S3-compatible servers need. Default true when Endpoint is set.
	PathStyle *bool
	// PartSize is the multipart part size in bytes; S3's minimum is 5 MiB. Default 5 MiB.
	PartSize int64
	// Concurrency is how many parts of one upload are in flight at once; memory per upload
	// is about PartSize × (Concurrency + 2). Default 2.
	Concurrency int
	// Timeout bounds each request that does not stream a body (HEAD, DELETE, LIST), and the
	// wait for response headers of every request. Default 30s.
	Timeout time.Duration
	// HTTPClient overrides the SDK's HTTP client. Default: one with Timeout as its
	// response-header timeout and a 5s dial timeout.
	HTTPClient *http.Client
}

// Store keeps blobs as objects in one bucket.
type Store struct {
	api      S3API
	uploader *transfermanager.Client
	bucket   string
	prefix   string
	timeout  time.Duration
	partSize int64 // of resumable uploads' parts (append.go)
}

var (
	_ files.BlobStore         = (*Store)(nil)
	_ files.BlobLister        = (*Store)(nil)
	_ files.IncompleteSweeper = (*Store)(nil)
)

// New builds a Store with the SDK's client for cfg.
func New(cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: a bucket is required")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3: an access key and a secret key are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	pathStyle := cfg.Endpoint != ""
	if cfg.PathStyle != nil {
		pathStyle = *cfg.PathStyle
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: cfg.Timeout,
			ExpectContinueTimeout: time.Second,
		}}
	}
	opts := s3.Options{
		Region:       cfg.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		UsePathStyle: pathStyle,
		HTTPClient:   hc,
		// Downloads are ranged and their integrity is checked end to end by the file's
		// SHA-256; a whole-object checksum would cost CPU and cannot cover a range.
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(strings.TrimSuffix(cfg.Endpoint, "/"))
	}
	return NewWithAPI(s3.New(opts), cfg), nil
}

// NewWithAPI builds a Store over any S3API (an *s3.Client configured elsewhere). Only
// Bucket, Prefix, PartSize, Concurrency and Timeout of cfg are used.
func NewWithAPI(api S3API, cfg Config) *Store {
	if cfg.PartSize == 0 {
		cfg.PartSize = minPartSize
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 2
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	up := transfermanager.New(api, func(o *transfermanager.Options) {
		o.PartSizeBytes = cfg.PartSize
		// A body up to one part goes in one PutObject; the first part is buffered once.
		o.MultipartUploadThreshold = cfg.PartSize
		o.Concurrency = cfg.Concurrency
	})
	return &Store{api: api, uploader: up, bucket: cfg.Bucket, prefix: cfg.Prefix, timeout: cfg.Timeout, partSize: cfg.PartSize}
}

// minPartSize is S3's smallest multipart part (all but the last).
const minPartSize = 5 << 20

func (s *Store) objectKey(key string) string { return s.prefix + key }

// Put implements files.BlobStore. r may be non-seekable (a request body): the uploader reads
// it part by part.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	cr := &countingReader{ctx: ctx, r: r}
	// The body stops at once when ctx ends (countingReader checks it), but parts already
	// being sent are let finish: a part request cut off on our side can still be stored by
	// the server after the abort below, which brings the upload back. So the requests run
	// on a context that the client's departure does not cancel; the SDK's timeouts bound them.
	// (The transfer manager aborts a failed upload once on that context too; abort below
	// makes sure it is gone.)
	_, err := s.uploader.UploadObject(context.WithoutCancel(ctx), &transfermanager.UploadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
		Body:   cr,
	})
	if err == nil {
		return cr.n, nil
	}
	// Leave nothing behind, even though ctx may be done: abort the multipart upload if one
	// began, and delete the object in case completion succeeded but its answer was lost.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	var cleanupErr error
	var mf transfermanager.MultipartUploadError
	if errors.As(err, &mf) && mf.UploadID() != "" {
		if aerr := s.abort(cctx, s.objectKey(key), mf.UploadID()); aerr != nil {
			cleanupErr = fmt.Errorf("s3: abort multipart upload (the collector will): %w", aerr)
		}
		_ = s.Delete(cctx, key)
	}
	if cr.err != nil {
		// The body's own error (too large, client gone) explains the failure best.
		return cr.n, errors.Join(fmt.Errorf("s3: put %s: %w", key, cr.err), cleanupErr)
	}
	return cr.n, errors.Join(mapErr("put", err), cleanupErr)
}

// abort aborts a multipart upload until it is gone. A part upload still running on the server
// can outlive one abort and bring parts back (S3's documentation says to abort again), so it
// checks with ListParts and retries, backing off, until the upload is unknown or ctx ends.
func (s *Store) abort(ctx context.Context, objectKey, uploadID string) error {
	delay := 50 * time.Millisecond
	for {
		_, err := s.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(objectKey), UploadId: aws.String(uploadID),
		})
		if err == nil || isNoSuchUpload(err) {
			_, err = s.api.ListParts(ctx, &s3.ListPartsInput{
				Bucket: aws.String(s.bucket), Key: aws.String(objectKey), UploadId: aws.String(uploadID), MaxParts: aws.Int32(1),
			})
			if isNoSuchUpload(err) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("the upload is still listed")
			}
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// Open implements files.BlobStore. It starts a GET of the whole object at once: the size comes
// from its answer, a whole download needs no other request, and a delete that follows cannot
// tear a body whose GET has begun. A Seek elsewhere before reading switches to a ranged GET.
func (s *Store) Open(ctx context.Context, key string) (files.Blob, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))})
	if err != nil {
		return nil, mapErr("open", err)
	}
	return &blob{s: s, ctx: ctx, key: s.objectKey(key), size: aws.ToInt64(out.ContentLength), etag: out.ETag, body: out.Body}, nil
}

// Delete implements files.BlobStore. S3 answers success for a missing key.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))})
	if err != nil && !isNotFound(err) {
		return mapErr("delete", err)
	}
	return nil
}

// ListBlobs implements files.BlobLister. Multipart uploads in progress are not objects yet and
// are never listed.
func (s *Store) ListBlobs(ctx context.Context, before time.Time, fn func(files.BlobInfo) error) error {
	p := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix)})
	for p.HasMorePages() {
		page, err := s.withTimeout(ctx, func(ctx context.Context) (*s3.ListObjectsV2Output, error) { return p.NextPage(ctx) })
		if err != nil {
			return mapErr("list", err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if key == "" || strings.Contains(key, "/") || o.LastModified == nil || !o.LastModified.Before(before) {
				continue
			}
			if err := fn(files.BlobInfo{Key: key, Size: aws.ToInt64(o.Size), ModTime: *o.LastModified}); err != nil {
				return err
			}
		}
	}
	return nil
}

// SweepIncomplete implements files.IncompleteSweeper: it aborts multipart uploads under the
// prefix that were initiated before before, which only a crashed node leaves behind. Choose
// before well beyond the longest upload, since an upload's initiation time does not move.
func (s *Store) SweepIncomplete(ctx context.Context, before time.Time) (int, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix)}
	aborted := 0
	for {
		page, err := s.withTimeoutMU(ctx, in)
		if err != nil {
			return aborted, mapErr("list multipart uploads", err)
		}
		for _, u := range page.Uploads {
			if u.Initiated == nil || !u.Initiated.Before(before) {
				continue
			}
			actx, cancel := context.WithTimeout(ctx, s.timeout)
			_, err := s.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId})
			cancel()
			if err != nil && !isNoSuchUpload(err) {
				return aborted, mapErr("abort multipart upload", err)
			}
			if err == nil {
				aborted++
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

func (s *Store) withTimeout(ctx context.Context, f func(context.Context) (*s3.ListObjectsV2Output, error)) (*s3.ListObjectsV2Output, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return f(ctx)
}

func (s *Store) withTimeoutMU(ctx context.Context, in *s3.ListMultipartUploadsInput) (*s3.ListMultipartUploadsOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.api.ListMultipartUploads(ctx, in)
}

// blob reads an object: Seek only records the offset, and Read opens a ranged GET from there
// when the offset moved away from the open response (or none is open). Sequential reads reuse
// one response.
type blob struct {
	s    *Store
	ctx  context.Context // the request's: a client that leaves stops the GET
	key  string
	size int64
	etag *string

	off     int64         // the position the caller sees
	body    io.ReadCloser // open GET response, positioned at bodyOff
	bodyOff int64
}

func (b *blob) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.body == nil || b.bodyOff != b.off {
		if err := b.openAt(b.off); err != nil {
			return 0, err
		}
	}
	n, err := b.body.Read(p)
	b.off += int64(n)
	b.bodyOff += int64(n)
	if err == io.EOF {
		b.closeBody()
		if b.off < b.size {
			return n, fmt.Errorf("s3: read %s: %w", b.key, io.ErrUnexpectedEOF)
		}
		return n, io.EOF
	}
	if err != nil {
		b.closeBody()
		return n, mapErr("read", err)
	}
	return n, nil
}

func (b *blob) openAt(off int64) error {
	b.closeBody()
	out, err := b.s.api.GetObject(b.ctx, &s3.GetObjectInput{
		Bucket:  aws.String(b.s.bucket),
		Key:     aws.String(b.key),
		Range:   aws.String(fmt.Sprintf("bytes=%d-", off)),
		IfMatch: b.etag, // never splice bytes of a different object into one response
	})
	if err != nil {
		return mapErr("read", err)
	}
	b.body, b.bodyOff = out.Body, off
	return nil
}

func (b *blob) closeBody() {
	if b.body != nil {
		b.body.Close()
		b.body = nil
	}
}

func (b *blob) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = b.off + offset
	case io.SeekEnd:
		abs = b.size + offset
	default:
		return b.off, errors.New("s3: invalid whence")
	}
	if abs < 0 {
		return b.off, errors.New("s3: negative position")
	}
	b.off = abs
	return abs, nil
}

func (b *blob) Close() error {
	b.closeBody()
	return nil
}

// countingReader counts the bytes read, remembers the body's own error (so Put can report it
// rather than the SDK's wrapping of it), and stops when ctx ends.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsu) {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// mapErr turns SDK errors into the domain's: a missing object is files.ErrNotFound; an
// unreachable, slow or failing server is files.ErrUnavailable (503, retry later).
func mapErr(op string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: s3 %s: %w", files.ErrNotFound, op, err)
	}
	var ne net.Error
	var maxAttempts *retry.MaxAttemptsError
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || errors.As(err, &maxAttempts) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: s3 %s: %w", files.ErrUnavailable, op, err)
	}
	if errors.Is(err, context.Canceled) { // the caller gave up; not the server's fault
		return fmt.Errorf("s3: %s: %w", op, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if code := re.HTTPStatusCode(); code == 0 || code >= 500 || code == http.StatusTooManyRequests {
			return fmt.Errorf("%w: s3 %s: %w", files.ErrUnavailable, op, err)
		}
	}
	return fmt.Errorf("s3: %s: %w", op, err)
}
