package api

import (
	"net/url"

	"github.com/cofferhq/coffer/pkg/safetext"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// plainText refuses a path or query string that holds a NUL byte or invalid UTF-8 once
// decoded (%00, %ff, %c3%28). No id, name, prefix, cursor or token is such a string, and
// PostgreSQL refuses them in text (an error, so a 500) rather than merely not matching. JSON
// bodies get the same check in decode (pkg/jsonbody); header values with a NUL never pass
// net/http, and those stored (Upload-Metadata) are checked as names and media types.
func plainText(u *url.URL) error {
	if !safetext.Valid(u.Path) {
		return files.Invalid("the path holds a NUL byte or invalid UTF-8")
	}
	// What parses is what handlers would see; a malformed query is left to them, as before.
	if q, _ := url.ParseQuery(u.RawQuery); !safetext.ValidValues(q) {
		return files.Invalid("the query string holds a NUL byte or invalid UTF-8")
	}
	return nil
}
