package api

import (
	"strconv"
	"strings"
)

// normalizeRange drops zero-length suffix ranges ("bytes=-0", or any suffix of an empty file)
// from a Range field before http.ServeContent sees it. ServeContent answers them with 206 and
// an impossible Content-Range ("bytes N-(N-1)/N", "bytes 0--1/0"); RFC 9110 section 14.1.1
// makes them unsatisfiable.
// When nothing else is left, the field asks for a range starting at the end of the file, which
// ServeContent answers with 416 and "bytes */N" (and still honours a stale If-Range).
func normalizeRange(field string, size int64) string {
	specs, ok := strings.CutPrefix(field, "bytes=")
	if !ok {
		return field
	}
	var kept []string
	dropped := false
	for _, spec := range strings.Split(specs, ",") {
		start, end, _ := strings.Cut(strings.TrimSpace(spec), "-")
		if strings.TrimSpace(start) == "" {
			if n, err := strconv.ParseInt(strings.TrimSpace(end), 10, 64); err == nil && (n == 0 || size == 0) {
				dropped = true
				continue
			}
		}
		kept = append(kept, spec)
	}
	switch {
	case !dropped:
		return field
	case len(kept) == 0:
		return "bytes=" + strconv.FormatInt(size, 10) + "-"
	}
	return "bytes=" + strings.Join(kept, ",")
}
