package api

import "testing"

func TestNormalizeRange(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"bytes=0-9", "bytes=0-9"},
		{"bytes=-5", "bytes=-5"},
		{"bytes=-0", "bytes=100-"},
		{"bytes= -00 ", "bytes=100-"},
		{"bytes=-0,0-1", "bytes=0-1"},
		{"bytes=0-1, -0, 5-6", "bytes=0-1, 5-6"},
		{"items=-0", "items=-0"},
		{"bytes=10-0", "bytes=10-0"}, // not a suffix: ServeContent refuses it itself
	} {
		if got := normalizeRange(tc.in, 100); got != tc.want {
			t.Errorf("normalizeRange(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Nothing of an empty file is satisfiable, suffix or not.
	for in, want := range map[string]string{"bytes=-1": "bytes=0-", "bytes=-5,0-1": "bytes=0-1"} {
		if got := normalizeRange(in, 0); got != want {
			t.Errorf("normalizeRange(%q, 0) = %q, want %q", in, got, want)
		}
	}
}
