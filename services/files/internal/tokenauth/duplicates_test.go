package tokenauth

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
		err := uniqueMembers([]byte(tc.json), "exp")
		if got := errors.Is(err, errDuplicateMember); got != tc.dup || (!tc.dup && err != nil) {
			t.Errorf("uniqueMembers(%s) = %v, want duplicate=%v", tc.json, err, tc.dup)
		}
	}
}

func TestNumericDates(t *testing.T) {
	for _, tc := range []struct {
		json string
		bad  bool
	}{
		{`{"exp":1700000000,"sub":"x"}`, false},
		{`{"exp":1.7e9}`, false},
		{`{"exp":"1700000000"}`, true},
		{`{"exp":null}`, true},
		{`{"exp":[1]}`, true},
		{`{"exp":{"a":1}}`, true},
		{`{"nested":{"exp":"x"}}`, false}, // only top-level claims are NumericDates
	} {
		err := uniqueMembers([]byte(tc.json), "exp")
		if got := errors.Is(err, errNotNumericDate); got != tc.bad || (!tc.bad && err != nil) {
			t.Errorf("uniqueMembers(%s) = %v, want bad=%v", tc.json, err, tc.bad)
		}
	}
}
