package disk_test

import (
	"testing"

	"github.com/cofferhq/coffer/services/files/internal/disk"
	"github.com/cofferhq/coffer/services/files/internal/files/blobtest"
)

func TestAppendConformance(t *testing.T) {
	blobtest.RunAppendTests(t, func(t *testing.T) blobtest.AppendStore {
		s, err := disk.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, 1<<20)
}
