package api

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

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
