package accesstoken_test

import (
	"errors"
	"testing"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// TestPreferredUsernameClaim: the claim is optional, read as given when it is a string, and a
// token whose claim has another JSON type is refused (as a sub of the wrong type is).
func TestPreferredUsernameClaim(t *testing.T) {
	s := newSigner(t)
	for _, tc := range []struct {
		name  string
		value any // nil: no claim
		want  string
		ok    bool
	}{
		{"absent", nil, "", true},
		{"a string", "alice", "alice", true},
		{"not ASCII", "zoë", "zoë", true},
		{"a number", 7, "", false},
		{"an array", []string{"alice"}, "", false},
		{"an object", map[string]string{"name": "alice"}, "", false},
		{"true", true, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{}
			if tc.value != nil {
				claims[accesstoken.ClaimPreferredUsername] = tc.value
			}
			c, err := s.validator(0).Validate(s.raw(t, goodHeader, s.claims(claims)), s.keyfunc)
			if !tc.ok {
				if !errors.Is(err, accesstoken.ErrInvalid) {
					t.Fatalf("Validate: err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.PreferredUsername != tc.want {
				t.Errorf("PreferredUsername = %q, want %q", c.PreferredUsername, tc.want)
			}
		})
	}
}
