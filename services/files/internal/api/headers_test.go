package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// FuzzContentDisposition: for every name the service accepts, the header is one line that a
// standard parser reads back as exactly that name, and its ASCII fallback holds no quote,
// backslash, separator or path character.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"a.txt", `quote".txt`, "../../etc/passwd", "semi;colon", "名前.txt", "report\u202Efdp.exe", "..", "%41", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if files.ValidateName(name) != nil {
			return
		}
		cd := contentDisposition(name)
		if strings.ContainsAny(cd, "\r\n\x00") || !utf8.ValidString(cd) {
			t.Fatalf("header %q is not one clean line", cd)
		}
		for i := 0; i < len(cd); i++ {
			if cd[i] >= 0x80 {
				t.Fatalf("header %q is not ASCII", cd)
			}
		}
		fb := cd[len(`attachment; filename="`):strings.Index(cd, `"; filename*=`)]
		if strings.ContainsAny(fb, `"\/;:*?<>|%`) || fb == "" || strings.HasPrefix(fb, ".") {
			t.Fatalf("unsafe fallback %q for %q", fb, name)
		}
		typ, params, err := mime.ParseMediaType(cd)
		if err != nil || typ != "attachment" || params["filename"] != name {
			t.Fatalf("%q parses as %q %q (%v), want the name %q", cd, typ, params["filename"], err, name)
		}
	})
}

// FuzzParseDigest: no field makes parseDigest panic; what it accepts is a 32-byte sha-256,
// and a well-formed field is read back exactly.
func FuzzParseDigest(f *testing.F) {
	sum := sha256.Sum256([]byte("x"))
	good := formatDigest(sum[:])
	for _, s := range []string{good, "sha-512=:AAAA:, " + good, "sha-256=:AAAA:", "sha-256=abc", ",,,", "SHA-256=:x:", good + ";p=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		got, err := parseDigest(field)
		if err == nil && got != nil && len(got) != 32 {
			t.Fatalf("%q gave a %d-byte digest", field, len(got))
		}
	})
	if got, err := parseDigest(good); err != nil || !bytes.Equal(got, sum[:]) {
		f.Fatalf("parseDigest(%q) = %x, %v", good, got, err)
	}
	if _, err := parseDigest("sha-256=:" + base64.StdEncoding.EncodeToString(sum[:16]) + ":"); err == nil {
		f.Fatal("a 16-byte sha-256 was accepted")
	}
}
