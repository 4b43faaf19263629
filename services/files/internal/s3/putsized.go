package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.SizedPutter = (*Store)(nil)

// maxSinglePut is the largest object S3 takes in one PutObject.
const maxSinglePut = 5 << 30

// PutSized implements files.SizedPutter: a body whose size is declared (a direct upload's
// Content-Length) streams to S3 in one PutObject, as a presigned PUT does, instead of a
// multipart upload of PartSize parts that the server must then assemble (versitygw copies
// every part into the object again at completion). The payload is sent UNSIGNED-PAYLOAD, as
// over https: signing it would need the whole body's SHA-256 before the first byte (a second
// hash of every byte, and a seekable body); the file's own SHA-256 is computed and checked
// by the service either way. A body that does not hold exactly size bytes stores nothing.
func (s *Store) PutSized(ctx context.Context, key string, r io.Reader, size int64) (int64, error) {
	if size <= 0 || size > maxSinglePut {
		return s.Put(ctx, key, r)
	}
	cr := &countingReader{ctx: ctx, r: r}
	_, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               aws.String(s.bucket),
		Key:                  aws.String(s.objectKey(key)),
		Body:                 io.LimitReader(cr, size),
		ContentLength:        aws.Int64(size),
		ServerSideEncryption: s.sse,
		SSEKMSKeyId:          s.kmsKeyID,
	}, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.RetryMaxAttempts = 1 // a streamed body cannot be sent twice
	})
	if err == nil && cr.n == size {
		// The body must end here: more bytes than declared is a failed upload, not a cut one.
		var one [1]byte
		if n, rerr := cr.Read(one[:]); n > 0 || (rerr != nil && rerr != io.EOF) {
			err = fmt.Errorf("s3: put %s: the body holds more than %d bytes", key, size)
		}
	} else if err == nil {
		err = fmt.Errorf("s3: put %s: %w", key, io.ErrUnexpectedEOF)
	}
	if err == nil {
		return cr.n, nil
	}
	// A PUT is atomic, but its answer may have been lost after the object was stored, or the
	// checks above failed after it was: leave nothing.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	derr := s.Delete(dctx, key)
	if cr.err != nil {
		return cr.n, errors.Join(fmt.Errorf("s3: put %s: %w", key, cr.err), derr)
	}
	return cr.n, errors.Join(mapErr("put", err), derr)
}
