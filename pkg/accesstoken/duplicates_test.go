package accesstoken

import (
	"errors"
	"testing"
)

func TestUniqueMembers(t *testing.T) {
	for _, tc := range []struct {
		json string
		dup  bool
	}{
		{`{"alg":"RS256","typ":"at+jwt","kid":"k"}`, false},
		{`{"a":{"b":1,"c":[{"b":2},{"b":3}]},"b":1}`, false},
		{`{"alg":"none","alg":"RS256"}`, true},
		{`{"sub":"a","s\u0075b":"b"}`, true},
		{`{"a":{"x":1,"x":2}}`, true},
		{`{"a":[{"x":1,"x":2}]}`, true},
		{`{"aud":["a","a"]}`, false},
		{`{}`, false},
	} {
		err := uniqueMembers([]byte(tc.json))
		if got := errors.Is(err, errDuplicateMember); got != tc.dup || (!tc.dup && err != nil) {
			t.Errorf("uniqueMembers(%s) = %v, want duplicate=%v", tc.json, err, tc.dup)
		}
	}
}
