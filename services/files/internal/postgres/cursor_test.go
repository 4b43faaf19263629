package postgres

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// TestDecodeCursor: a cursor round-trips, and one whose time PostgreSQL cannot hold (or that is
// not 24 bytes of base64url) is ErrInvalidInput, never a time that wraps in the query.
func TestDecodeCursor(t *testing.T) {
	id := uuid.New()
	forge := func(micros uint64) string {
		var b [24]byte
		binary.BigEndian.PutUint64(b[:8], micros)
		copy(b[8:], id[:])
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	pgMin := int64(minCursorMicros) // a variable: a negative constant does not convert to uint64
	for _, c := range []struct {
		name   string
		cursor string
		want   time.Time // zero: ErrInvalidInput
	}{
		{"round trip", encodeCursor(now, id), now},
		{"unix epoch", forge(0), time.UnixMicro(0).UTC()},
		{"just before the epoch", forge(1<<64 - 1), time.UnixMicro(-1).UTC()},
		{"largest int64", forge(1<<63 - 1), time.UnixMicro(1<<63 - 1).UTC()},
		{"postgres minimum", forge(uint64(pgMin)), time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC)},
		{"below postgres minimum", forge(uint64(pgMin - 1)), time.Time{}},
		{"smallest int64", forge(1 << 63), time.Time{}},
		{"not base64", "not a cursor!", time.Time{}},
		{"short", base64.RawURLEncoding.EncodeToString(make([]byte, 23)), time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, gotID, err := decodeCursor(c.cursor)
			if c.want.IsZero() {
				if !errors.Is(err, files.ErrInvalidInput) {
					t.Fatalf("decodeCursor = %v, %v, %v; want ErrInvalidInput", got, gotID, err)
				}
				return
			}
			if err != nil || !got.Equal(c.want) || gotID != id {
				t.Fatalf("decodeCursor = %v, %v, %v; want %v, %v", got, gotID, err, c.want, id)
			}
		})
	}
}
