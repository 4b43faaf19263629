package digest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/files/internal/digest"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

func TestParse(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	v := ":" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	tests := []struct {
		in      string
		want    []byte
		wantErr bool
	}{
		{"", nil, false},
		{"sha-256=" + v, sum[:], false},
		{"sha-256=" + v + ";p=1", sum[:], false},
		{"sha-512=:AAAA:, sha-256=" + v, sum[:], false},
		{"sha-512=:AAAA:", nil, false},
		{"sha-256=" + v + ", sha-256=" + v, nil, true},
		{"sha-256=AAAA", nil, true},
		{"sha-256=", nil, true}, // an empty value is malformed, not absent (issue 25)
		{"sha-256=::", nil, true},
		{"SHA-256=" + v, nil, true},
		{"sha-512=AAAA, sha-256=" + v, nil, true},
		{"sha-256=" + strings.Repeat("A", 5000), nil, true},
	}
	for _, tc := range tests {
		got, err := digest.Parse(tc.in)
		if (err != nil) != tc.wantErr || !bytes.Equal(got, tc.want) {
			t.Errorf("Parse(%q) = %x, %v; want %x, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("Parse(%q) error %v is not ErrInvalidInput", tc.in, err)
		}
	}
}

// FuzzParse: Parse never panics, returns either a 32-byte SHA-256 or nothing, any error is an
// ErrInvalidInput (a 400, never a 5xx), and Format round-trips.
func FuzzParse(f *testing.F) {
	sum := sha256.Sum256([]byte("x"))
	for _, s := range []string{
		"", digest.Format(sum[:]), "sha-512=:AAAA:, " + digest.Format(sum[:]), "sha-256=:AAAA:", "sha-256=AAAA",
		"SHA-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":", digest.Format(sum[:]) + ";param=1", "=", ",,,", "a=::",
	} {
		f.Add(s, sum[:])
	}
	f.Fuzz(func(t *testing.T, field string, raw []byte) {
		got, err := digest.Parse(field)
		if err != nil {
			if !errors.Is(err, files.ErrInvalidInput) {
				t.Fatalf("Parse(%q) error %v is not ErrInvalidInput", field, err)
			}
			if got != nil {
				t.Fatalf("Parse(%q) returned a digest with an error", field)
			}
		} else if got != nil && len(got) != 32 {
			t.Fatalf("Parse(%q) = %d bytes", field, len(got))
		}
		if len(raw) == 32 {
			back, err := digest.Parse(digest.Format(raw))
			if err != nil || !bytes.Equal(back, raw) {
				t.Fatalf("round trip of %x: %x, %v", raw, back, err)
			}
		}
	})
}
