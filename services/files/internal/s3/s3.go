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
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cofferhq/coffer/pkg/backoff"
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
	// AccessKey and SecretKey are static credentials. Both unset: the AWS default credential
	// chain (environment, shared config, web identity, container and instance roles).
	AccessKey, SecretKey string
	// SSE asks S3 to encrypt every object at rest: "AES256" (S3-managed keys) or "aws:kms"
	// with SSEKMSKeyID (empty: the account's default S3 KMS key). Default none.
	SSE, SSEKMSKeyID string
	// PathStyle addresses the bucket in the path rather than the host name, as most
	// S3-compatible servers need. Default true when Endpoint is set.
	PathStyle *bool
	// PartSize is the multipart part size in bytes, at least MinPartSize. Default MinPartSize.
	PartSize int64
	// Concurrency is how many parts of one upload are in flight at once; memory per upload
	// is about PartSize × (Concurrency + 2). Default 2.
	Concurrency int
	// Timeout bounds each request that does not stream a body (HEAD, DELETE, LIST), and the
	// wait for response headers of every request. Default DefaultTimeout.
	Timeout time.Duration
	// PresignTTL is how long the URLs of BlobURL (redirect mode) stay valid. Default
	// DefaultPresignTTL.
	PresignTTL time.Duration
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
	sse      types.ServerSideEncryption // "" for none
	kmsKeyID *string
	partSize int64 // of resumable uploads' parts (append.go)

	presign    *s3.PresignClient // nil when built over an S3API that is not an *s3.Client
	presignTTL time.Duration
	// conns: GETs marked with connKey come on a connection of their own (conn.go).
	conns bool
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
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	creds, err := credentialsFor(cfg)
	if err != nil {
		return nil, err
	}
	if _, _, err := sseFor(cfg); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
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
			// No large read buffer: a download copies the object's body in 256 KiB pieces
			// (api.sendfileWriter), which bypass the buffer, and a server that closes every
			// connection (versitygw without --keep-alive) would have each GET allocate it.
			WriteBufferSize: 256 << 10,
		}}
	}
	opts := s3.Options{
		Region:       cfg.Region,
		Credentials:  creds,
		UsePathStyle: pathStyle,
		HTTPClient:   hc,
		// Downloads are ranged and their integrity is checked end to end by the file's
		// SHA-256; a whole-object checksum would cost CPU and cannot cover a range.
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(strings.TrimSuffix(cfg.Endpoint, "/"))
	}
	// Large downloads from a plain-HTTP endpoint take their bytes off a connection of their
	// own (conn.go); every other request goes through hc as before.
	conns := strings.HasPrefix(cfg.Endpoint, "http://")
	if conns {
		opts.HTTPClient = &connClient{next: hc, dial: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			proxy: http.ProxyFromEnvironment, headerTimeout: cfg.Timeout}
	}
	st := NewWithAPI(s3.New(opts), cfg)
	st.conns = conns
	return st, nil
}

// NewWithAPI builds a Store over any S3API (an *s3.Client configured elsewhere). Only
// Bucket, Prefix, PartSize, Concurrency, Timeout, PresignTTL and SSE of cfg are used.
func NewWithAPI(api S3API, cfg Config) *Store {
	if cfg.PartSize == 0 {
		cfg.PartSize = MinPartSize
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 2
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
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
	if cfg.PresignTTL == 0 {
		cfg.PresignTTL = DefaultPresignTTL
	}
	sse, kmsKey, _ := sseFor(cfg) // checked by New; NewWithAPI callers pass a valid one
	st := &Store{api: api, uploader: up, bucket: cfg.Bucket, prefix: cfg.Prefix, timeout: cfg.Timeout, sse: sse, kmsKeyID: kmsKey,
		partSize: cfg.PartSize, presignTTL: cfg.PresignTTL}
	if c, ok := api.(*s3.Client); ok {
		st.presign = s3.NewPresignClient(c)
	}
	return st
}

// MinPartSize is S3's smallest multipart part (all but the last), and the default part size.
const MinPartSize = 5 << 20

// DefaultTimeout is Config.Timeout unless configured otherwise.
const DefaultTimeout = 30 * time.Second

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
		// Server-side encryption; the uploader passes it on to CreateMultipartUpload.
		ServerSideEncryption: tmtypes.ServerSideEncryption(s.sse),
		SSEKMSKeyID:          s.kmsKeyID,
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
	return backoff.Retry(ctx, 50*time.Millisecond, time.Second, func() error {
		_, err := s.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(objectKey), UploadId: aws.String(uploadID),
		})
		if err != nil && !isNoSuchUpload(err) {
			return err
		}
		_, err = s.api.ListParts(ctx, &s3.ListPartsInput{
			Bucket: aws.String(s.bucket), Key: aws.String(objectKey), UploadId: aws.String(uploadID), MaxParts: aws.Int32(1),
		})
		switch {
		case isNoSuchUpload(err):
			return nil
		case err == nil:
			return errors.New("the upload is still listed")
		}
		return err
	}, nil)
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
