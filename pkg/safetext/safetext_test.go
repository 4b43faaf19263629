package safetext_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/cofferhq/coffer/pkg/safetext"
)

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"":              true,
		"alice":         true,
		"Größe 📁/x.pdf": true,
		"a\x00b":        false,
		"\xff":          false,
		"\xc3\x28":      false,
		"\xed\xa0\x80":  false, // a UTF-16 surrogate, not UTF-8
	} {
		if got := safetext.Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidQuery(t *testing.T) {
	for q, want := range map[string]bool{
		"":                   true,
		"prefix=abc&limit=2": true,
		"prefix=%C3%A9":      true,
		"prefix=%00":         false,
		"prefix=%ff":         false,
		"prefix=%c3%28":      false,
		"%00=x":              false,
		"prefix=%zz":         false,
	} {
		if got := safetext.ValidQuery(q); got != want {
			t.Errorf("ValidQuery(%q) = %v, want %v", q, got, want)
		}
	}
	if safetext.ValidValues(url.Values{"a": {"ok", "b\x00"}}) {
		t.Error("ValidValues accepted a NUL in a second value")
	}
}

func TestValidStrings(t *testing.T) {
	type inner struct{ Name string }
	type body struct {
		Username string            `json:"username"`
		Tags     []string          `json:"tags"`
		Meta     map[string]string `json:"meta"`
		In       *inner            `json:"in"`
		Any      any               `json:"any"`
		Raw      []byte            `json:"raw"`
	}
	for raw, want := range map[string]bool{
		`{"username":"alice","tags":["a"],"meta":{"k":"v"},"in":{"Name":"x"},"any":["y",{"z":"w"}]}`: true,
		`{"username":"al\u0000ice"}`:    false,
		`{"tags":["ok","\u0000"]}`:      false,
		`{"meta":{"\u0000":"v"}}`:       false,
		`{"meta":{"k":"\u0000"}}`:       false,
		`{"in":{"Name":"\u0000"}}`:      false,
		`{"any":[{"deep":["\u0000"]}]}`: false,
		`{"raw":"AAAA"}`:                true, // base64 of NUL bytes: bytes, not text
	} {
		var b body
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			t.Fatal(err)
		}
		if got := safetext.ValidStrings(b); got != want {
			t.Errorf("ValidStrings(%s) = %v, want %v", raw, got, want)
		}
	}
}
