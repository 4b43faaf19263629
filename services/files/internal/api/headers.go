package api

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// parseDigest reads the sha-256 member of an RFC 9530 Content-Digest or Repr-Digest field
// (a structured-field dictionary such as `sha-256=:base64:, sha-512=:...:`). It returns nil
// when the field is absent or names no algorithm Coffer checks, and an ErrInvalidInput when
// it is malformed.
func parseDigest(field string) ([]byte, error) {
	field = strings.TrimSpace(field)
	if field == "" {
		return nil, nil
	}
	if len(field) > 4096 {
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

// formatDigest is the Repr-Digest field value for a SHA-256.
func formatDigest(sum []byte) string {
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":"
}

// etag is a strong entity tag derived from the content's SHA-256.
func etag(sum []byte) string { return `"` + hex.EncodeToString(sum) + `"` }

// contentDisposition builds `attachment` with an ASCII-only `filename` fallback and the exact
// name in an RFC 8187 (RFC 5987) `filename*`. Quotes, backslashes, control characters,
// separators and path characters never reach the fallback, so no name can break out of the
// header or suggest a path.
func contentDisposition(name string) string {
	var fallback strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r >= 0x80:
			fallback.WriteByte('_')
		case strings.ContainsRune(`"\/;:*?<>|%`, r):
			fallback.WriteByte('_')
		default:
			fallback.WriteRune(r)
		}
	}
	fb := strings.Trim(fallback.String(), ". ")
	if fb == "" {
		fb = "download"
	}
	v := `attachment; filename="` + fb + `"`
	if utf8.ValidString(name) {
		v += "; filename*=UTF-8''" + rfc8187Encode(name)
	}
	return v
}

// rfc8187Encode percent-encodes every byte but attr-char (RFC 8187 section 3.2.1).
func rfc8187Encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
