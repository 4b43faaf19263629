package accesstoken

import "testing"

func TestNormalizeIssuer(t *testing.T) {
	for in, want := range map[string]string{
		"https://auth.example":        "https://auth.example",
		"https://auth.example/":       "https://auth.example",
		"https://auth.example//":      "https://auth.example",
		"https://auth.example/coffer": "https://auth.example/coffer",
		"http://127.0.0.1:8081/":      "http://127.0.0.1:8081",
	} {
		if got := NormalizeIssuer(in); got != want {
			t.Errorf("NormalizeIssuer(%q) = %q, want %q", in, got, want)
		}
	}
}
