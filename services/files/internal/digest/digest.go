// Package digest reads and writes the RFC 9530 digest fields (Repr-Digest, Content-Digest) of
// the file service: the one parser every upload path uses, so the same header gets the same
// answer on POST /v1/files and on the tus routes.
package digest

import (
	"encoding/base64"
	"strings"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// MaxFieldBytes bounds a digest field; a longer one is refused before it is split.
const MaxFieldBytes = 4096

// Parse reads the sha-256 member of a Content-Digest or Repr-Digest field (a structured-field
// dictionary such as `sha-256=:base64:, sha-512=:...:`). It returns nil when the field is
// absent or names no algorithm Coffer checks, and a *files.InputError when it is malformed:
// every member, whatever its algorithm, must be a byte sequence.
func Parse(field string) ([]byte, error) {
	field = strings.TrimSpace(field)
	if field == "" {
		return nil, nil
	}
	if len(field) > MaxFieldBytes {
		return nil, files.Invalid("digest field too long")
	}
	var found []byte
	for _, member := range strings.Split(field, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || key == "" {
			return nil, files.Invalid("malformed digest field")
		}
		if key != strings.ToLower(key) {
			return nil, files.Invalid("malformed digest field")
		}
		if i := strings.IndexByte(val, ';'); i >= 0 { // parameters are allowed and ignored
			val = val[:i]
		}
		if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			return nil, files.Invalid("digest values must be byte sequences (:base64:)")
		}
		b, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1])
		if err != nil {
			return nil, files.Invalid("digest is not valid base64")
		}
		if key == "sha-256" {
			if len(b) != 32 {
				return nil, files.Invalid("sha-256 digest must be 32 bytes")
			}
			if found != nil {
				return nil, files.Invalid("sha-256 given twice")
			}
			found = b
		}
	}
	return found, nil
}

// Format is the Repr-Digest field value for a SHA-256.
func Format(sum []byte) string {
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":"
}
