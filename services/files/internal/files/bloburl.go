package files

import (
	"context"
	"io"
	"strings"
)

// BlobURLer is a BlobStore that can let a client fetch a blob's bytes itself, from a URL that
// is valid for a short time (S3's presigned GET), so a download's bytes need not pass through
// a file node (COFFER_FILES_S3_REDIRECT).
type BlobURLer interface {
	// BlobURL returns a short-lived URL of the blob under key whose response carries h.
	// Making it checks nothing: the caller has authorized the download (use BlobURL).
	BlobURL(ctx context.Context, key string, h BlobURLHeaders) (string, error)
}

// BlobURLHeaders are the response headers a blob URL makes its server send.
type BlobURLHeaders struct {
	ContentType, ContentDisposition, CacheControl string
}

// BlobURL is OpenBlob for redirects: the same checks on the row the caller was authorized
// for (not servable, content missing), then a URL of its bytes.
func BlobURL(ctx context.Context, u BlobURLer, f File, h BlobURLHeaders) (string, error) {
	if err := Servable(f); err != nil {
		return "", err
	}
	if strings.HasPrefix(f.BlobKey, MissingKeyPrefix) {
		return "", ErrContentMissing
	}
	return u.BlobURL(ctx, f.BlobKey, h)
}

// SizedPutter is a BlobStore that stores a body whose size is known in advance better than
// one of unknown size (S3: one streamed PutObject instead of a multipart upload). Like Put,
// PutSized leaves nothing under key on error, including when r does not hold exactly size
// bytes.
type SizedPutter interface {
	PutSized(ctx context.Context, key string, r io.Reader, size int64) (int64, error)
}
