package s3_test

import (
	"testing"

	"github.com/cofferhq/coffer/pkg/s3test"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
)

// TestAppendConformance: resumable uploads as one multipart upload with a tail object, across
// the 5 MiB part boundary.
func TestAppendConformance(t *testing.T) {
	srv := s3test.Start(t)
	blobtest.RunAppendTests(t, func(t *testing.T) blobtest.AppendStore { return newStore(t, srv, "coffer") }, 5<<20)
}
