package s3

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.BlobURLer = (*Store)(nil)

// DefaultPresignTTL is how long a presigned download URL (Config.PresignTTL) stays valid
// unless configured otherwise: long enough for a client to follow a redirect, short enough
// that a URL copied out of a browser soon stops working.
const DefaultPresignTTL = time.Minute

// BlobURL implements files.BlobURLer: a presigned GET of the blob's object, valid for the
// store's PresignTTL, whose response carries h's Content-Type and Content-Disposition
// (S3's response-content-type and response-content-disposition parameters, covered by the
// signature, so the client cannot change them). Signing is local: no request to S3.
func (s *Store) BlobURL(ctx context.Context, key string, h files.BlobURLHeaders) (string, error) {
	if s.presign == nil {
		return "", errors.New("s3: this store cannot presign (built over a non-SDK client)")
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))}
	if h.ContentType != "" {
		in.ResponseContentType = aws.String(h.ContentType)
	}
	if h.ContentDisposition != "" {
		in.ResponseContentDisposition = aws.String(h.ContentDisposition)
	}
	if h.CacheControl != "" {
		in.ResponseCacheControl = aws.String(h.CacheControl)
	}
	out, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(s.presignTTL))
	if err != nil {
		return "", mapErr("presign", err)
	}
	return out.URL, nil
}
