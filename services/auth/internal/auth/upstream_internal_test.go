package auth

import "testing"

// TestUpstreamAllowed: the sign-up policy reads only verified emails of the listed domains
// and the listed groups; with neither listed anyone the provider vouches for may sign up.
func TestUpstreamAllowed(t *testing.T) {
	corp := UpstreamPolicy{EmailDomains: []string{"example.com"}}
	team := UpstreamPolicy{Groups: []string{"coffer-users"}}
	tests := []struct {
		name string
		pol  UpstreamPolicy
		c    UpstreamClaims
		want bool
	}{
		{"no restriction", UpstreamPolicy{}, UpstreamClaims{}, true},
		{"verified email of the domain", corp, UpstreamClaims{Email: "ann@Example.com", EmailVerified: true}, true},
		{"unverified email of the domain", corp, UpstreamClaims{Email: "ann@example.com"}, false},
		{"another domain", corp, UpstreamClaims{Email: "ann@example.com.evil.test", EmailVerified: true}, false},
		{"domain as a subdomain", corp, UpstreamClaims{Email: "ann@sub.example.com", EmailVerified: true}, false},
		{"no email", corp, UpstreamClaims{EmailVerified: true}, false},
		{"in the group", team, UpstreamClaims{Groups: []string{"x", "coffer-users"}}, true},
		{"not in the group", team, UpstreamClaims{Groups: []string{"coffer-users-not"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := upstreamAllowed(tc.pol, tc.c); got != tc.want {
				t.Fatalf("upstreamAllowed = %v, want %v", got, tc.want)
			}
		})
	}
}
