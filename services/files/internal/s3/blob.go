package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

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
