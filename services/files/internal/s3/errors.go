package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

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
