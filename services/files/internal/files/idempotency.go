package files

import (
	"context"
	"errors"
	"strings"
)

// ErrKeyUsed means an upload's idempotency key already names a stored file of the same owner:
// another request with that key committed first. The upload stored nothing; the caller
// answers with the file the key names (IdempotencyStore).
var ErrKeyUsed = errors.New("idempotency key already used")

// MaxIdempotencyKey bounds an Idempotency-Key.
const MaxIdempotencyKey = 255

// ValidateIdempotencyKey checks a key: 1 to 255 printable ASCII characters.
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKey || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
		return Invalid("Idempotency-Key must be 1 to %d printable ASCII characters", MaxIdempotencyKey)
	}
	return nil
}

// ParseIdempotencyKey reads the Idempotency-Key header's values (the IETF httpapi draft's
// structured string "...", or the bare key clients also send): "" when there is none.
func ParseIdempotencyKey(values []string) (string, error) {
	if len(values) == 0 {
		return "", nil
	}
	if len(values) != 1 {
		return "", Invalid("send one Idempotency-Key")
	}
	key := values[0]
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		key = key[1 : len(key)-1]
		if strings.ContainsAny(key, `"\`) {
			return "", Invalid("Idempotency-Key must be a plain string")
		}
	}
	return key, ValidateIdempotencyKey(key)
}

// IdempotencyStore finds the file an upload's idempotency key names. Keys are scoped to their
// owner: another user's key never names your file.
type IdempotencyStore interface {
	// FileByIdempotencyKey returns ownerID's file stored with key; ErrNotFound if none is.
	FileByIdempotencyKey(ctx context.Context, ownerID, key string) (File, error)
}
