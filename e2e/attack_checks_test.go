package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// expectCleanProblem is what every negative attack case checks of its response: the status
// and problem code; a problem+json body with only RFC 9457 members and Coffer's code; no
// internal error text; and no echo of any secret the request carried (a token, a cursor).
func expectCleanProblem(t testing.TB, what string, r response, status int, code string, secrets ...string) {
	t.Helper()
	expectProblem(t, what, r, status, code)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	assertCleanBody(t, what, r.Body, secrets...)
}

// assertCleanBody fails if a problem body has members beyond RFC 9457's and code, carries
// internal error text, or echoes (any long part of) a secret.
func assertCleanBody(t testing.TB, what string, body []byte, secrets ...string) {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%s: body is not JSON: %s", what, body)
	}
	for k := range p {
		switch k {
		case "type", "title", "status", "detail", "instance", "code":
		default:
			t.Fatalf("%s: problem body has unexpected member %q: %s", what, k, body)
		}
	}
	lower := strings.ToLower(string(body))
	for _, bad := range []string{
		"panic", "goroutine", ".go:", "runtime", "pgx", "postgres", "sql", "/tmp", "stack", "multipart:",
		"mime:", "http:", "no space", "errno", "syscall", "0x",
	} {
		if strings.Contains(lower, bad) {
			t.Fatalf("%s: response body leaks %q: %s", what, bad, body)
		}
	}
	for _, s := range secrets {
		for _, seg := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '/' || r == '?' || r == '&' || r == '=' }) {
			if len(seg) >= 16 && strings.Contains(string(body), seg) {
				t.Fatalf("%s: response body echoes a secret it was sent: %s", what, body)
			}
		}
	}
}
