package accesstoken_test

import (
	"testing"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

func TestFromHeader(t *testing.T) {
	for _, tc := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Basic dXNlcjpwdw==", "", false},
		{"Bearerabc", "", false},
		{"Token abc", "", false},
	} {
		got, ok := accesstoken.FromHeader(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FromHeader(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}
