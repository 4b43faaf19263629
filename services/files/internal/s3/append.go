package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

var _ files.Appender = (*Store)(nil)

// A resumable upload is one S3 multipart upload of the blob's key. Each Append sends whole
// parts of PartSize bytes as they fill; what is left at the end of a request (less than a
// part: S3 refuses parts under 5 MiB but the last) is kept as a small "tail" object, which the
// next Append sends first as the start of its next part and CompleteAppend sends as the last
// part. So completion reads at most one part again, never the file, and every acknowledged
// byte is in S3. Tail objects are named "tus-tails/<key>.<end offset>" under the prefix: in a
// "folder", so neither listing nor the collector takes them for blobs; CompleteAppend and
// AbortAppend remove them all.

// appendState is the state recorded with the upload's offset.
type appendState struct {
	UploadID string       `json:"upload_id"`
	Parts    []appendPart `json:"parts,omitempty"`
	Tail     string       `json:"tail,omitempty"` // object key of the bytes after the last part
	TailSize int64        `json:"tail_size,omitempty"`
}

type appendPart struct {
	Number int32  `json:"n"`
	ETag   string `json:"etag"`
	CRC32  string `json:"crc32,omitempty"`
	Size   int64  `json:"size"`
}

func (st appendState) size() int64 {
	n := st.TailSize
	for _, p := range st.Parts {
		n += p.Size
	}
	return n
}

func decodeState(b []byte) (appendState, error) {
	var st appendState
	if len(b) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("s3: bad append state: %w", err)
	}
	return st, nil
}

// Append implements files.Appender. Memory is one part buffer per request.
func (s *Store) Append(ctx context.Context, key string, state []byte, offset int64, r io.Reader) (int64, []byte, error) {
	st, err := decodeState(state)
	if err != nil {
		return 0, nil, err
	}
	if st.size() != offset {
		return 0, nil, fmt.Errorf("s3: append state holds %d bytes, %d recorded", st.size(), offset)
	}
	obj := s.objectKey(key)
	// Requests run on a context the client's departure does not cancel: what was received is
	// saved (r ends at once when the client goes); the SDK's timeouts bound each call.
	wctx := context.WithoutCancel(ctx)
	created := false
	if st.UploadID == "" {
		out, err := s.api.CreateMultipartUpload(wctx, &s3.CreateMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(obj), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			ServerSideEncryption: s.sse, SSEKMSKeyId: s.kmsKeyID,
		})
		if err != nil {
			return 0, nil, mapErr("create multipart upload", err)
		}
		st.UploadID, created = aws.ToString(out.UploadId), true
	}
	n, err := s.appendParts(wctx, obj, &st, offset, &countingReader{ctx: ctx, r: r})
	if err != nil {
		if created {
			actx, cancel := context.WithTimeout(wctx, s.timeout)
			_ = s.abort(actx, obj, st.UploadID)
			cancel()
		}
		return 0, nil, err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return 0, nil, err
	}
	return n, b, nil
}

// appendParts sends r as parts, starting with the recorded tail, and leaves the rest as a new
// tail. It returns how many bytes of r it stored.
func (s *Store) appendParts(ctx context.Context, obj string, st *appendState, offset int64, r *countingReader) (int64, error) {
	buf := make([]byte, s.partSize)
	fill := 0
	if st.Tail != "" {
		n, err := s.readTail(ctx, st, buf)
		if err != nil {
			return 0, err
		}
		fill = n
	}
	for {
		n, err := io.ReadFull(r, buf[fill:])
		fill += n
		if err == nil { // a full part
			if err := s.uploadPart(ctx, obj, st, buf[:fill]); err != nil {
				return 0, err
			}
			st.Tail, st.TailSize, fill = "", 0, 0
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if r.err != nil {
			err = r.err
		}
		return 0, fmt.Errorf("s3: append: %w", err)
	}
	if r.err != nil { // the request's context ended: keep nothing of an unfinished read
		return 0, fmt.Errorf("s3: append: %w", r.err)
	}
	if r.n == 0 {
		return 0, nil
	}
	if fill > 0 {
		tail := s.tailPrefix(obj) + strconv.FormatInt(offset+r.n, 10)
		tctx, cancel := context.WithTimeout(ctx, s.timeout)
		_, err := s.api.PutObject(tctx, &s3.PutObjectInput{
			Bucket: aws.String(s.bucket), Key: aws.String(tail), Body: bytes.NewReader(buf[:fill]),
			ServerSideEncryption: s.sse, SSEKMSKeyId: s.kmsKeyID,
		})
		cancel()
		if err != nil {
			return 0, mapErr("put tail", err)
		}
		st.Tail, st.TailSize = tail, int64(fill)
	}
	return r.n, nil
}

func (s *Store) readTail(ctx context.Context, st *appendState, buf []byte) (int, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(st.Tail)})
	if err != nil {
		return 0, mapErr("read tail", err)
	}
	defer out.Body.Close()
	n, err := io.ReadFull(out.Body, buf[:st.TailSize])
	if err != nil {
		return 0, mapErr("read tail", err)
	}
	return n, nil
}

func (s *Store) uploadPart(ctx context.Context, obj string, st *appendState, b []byte) error {
	num := int32(len(st.Parts) + 1)
	if num > 10000 {
		return fmt.Errorf("%w: s3: more than 10000 parts", files.ErrTooLarge)
	}
	out, err := s.api.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(s.bucket), Key: aws.String(obj), UploadId: aws.String(st.UploadID),
		PartNumber: aws.Int32(num), Body: bytes.NewReader(b), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return mapErr("upload part", err)
	}
	st.Parts = append(st.Parts, appendPart{Number: num, ETag: aws.ToString(out.ETag), CRC32: aws.ToString(out.ChecksumCRC32), Size: int64(len(b))})
	return nil
}

// CompleteAppend implements files.Appender: the tail goes up as the last part and the
// multipart upload is completed; the object appears whole, at once.
func (s *Store) CompleteAppend(ctx context.Context, key string, state []byte, size int64) error {
	st, err := decodeState(state)
	if err != nil {
		return err
	}
	if st.size() != size {
		return fmt.Errorf("s3: append state holds %d bytes, want %d", st.size(), size)
	}
	obj := s.objectKey(key)
	ctx = context.WithoutCancel(ctx)
	if st.UploadID == "" {
		return fmt.Errorf("%w: s3: no multipart upload for %s", files.ErrNotFound, key)
	}
	if st.Tail != "" {
		buf := make([]byte, st.TailSize)
		if _, err := s.readTail(ctx, &st, buf); err != nil {
			if s.completed(ctx, obj, size) {
				return nil
			}
			return err
		}
		if err := s.uploadPart(ctx, obj, &st, buf); err != nil {
			if s.completed(ctx, obj, size) {
				return nil
			}
			return err
		}
	}
	parts := make([]types.CompletedPart, len(st.Parts))
	for i, p := range st.Parts {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
		if p.CRC32 != "" {
			parts[i].ChecksumCRC32 = aws.String(p.CRC32)
		}
	}
	_, err = s.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(obj), UploadId: aws.String(st.UploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil && !(isNoSuchUpload(err) && s.completed(ctx, obj, size)) {
		return mapErr("complete multipart upload", err)
	}
	s.deleteTails(ctx, obj)
	return nil
}

// completed reports whether the object exists with size bytes: a completion that succeeded
// before, whose answer was lost.
func (s *Store) completed(ctx context.Context, obj string, size int64) bool {
	hctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.api.HeadObject(hctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(obj)})
	return err == nil && aws.ToInt64(out.ContentLength) == size
}

// AbortAppend implements files.Appender.
func (s *Store) AbortAppend(ctx context.Context, key string, state []byte) error {
	st, err := decodeState(state)
	if err != nil {
		return err
	}
	obj := s.objectKey(key)
	ctx = context.WithoutCancel(ctx)
	if st.UploadID != "" {
		actx, cancel := context.WithTimeout(ctx, 4*s.timeout)
		err := s.abort(actx, obj, st.UploadID)
		cancel()
		if err != nil {
			return fmt.Errorf("s3: abort multipart upload: %w", err)
		}
	}
	if err := s.deleteTails(ctx, obj); err != nil {
		return err
	}
	return s.Delete(ctx, key) // completed, but its row never written
}

// tailPrefix is the start of the keys of the tail objects of the upload of obj.
func (s *Store) tailPrefix(obj string) string {
	return s.prefix + "tus-tails/" + strings.TrimPrefix(obj, s.prefix) + "."
}

// deleteTails removes every tail object of the upload of obj.
func (s *Store) deleteTails(ctx context.Context, obj string) error {
	prefix := s.tailPrefix(obj)
	p := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := s.withTimeout(ctx, func(ctx context.Context) (*s3.ListObjectsV2Output, error) { return p.NextPage(ctx) })
		if err != nil {
			return mapErr("list tails", err)
		}
		for _, o := range page.Contents {
			if !strings.HasPrefix(aws.ToString(o.Key), prefix) {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, s.timeout)
			_, err := s.api.DeleteObject(dctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: o.Key})
			cancel()
			if err != nil && !isNotFound(err) {
				return mapErr("delete tail", err)
			}
		}
	}
	return nil
}
