package envconf_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/envconf"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestValues(t *testing.T) {
	r := envconf.New(env(map[string]string{
		"S": "  value  ", "EMPTY": "   ", "D": "90s", "N": "42", "K": "4K", "M": "5m", "G": "2G", "T": "1T", "B": "true", "B0": "0", "REQ": "x",
	}))
	if got := r.String("S", "def"); got != "value" {
		t.Errorf("String = %q, want trimmed value", got)
	}
	if got := r.String("EMPTY", "def"); got != "def" {
		t.Errorf("String of blank = %q, want the default", got)
	}
	if got := r.String("UNSET", "def"); got != "def" {
		t.Errorf("String of unset = %q, want the default", got)
	}
	if got := r.Duration("D", time.Second); got != 90*time.Second {
		t.Errorf("Duration = %v", got)
	}
	if got := r.Duration("UNSET", time.Second); got != time.Second {
		t.Errorf("Duration default = %v", got)
	}
	for key, want := range map[string]int64{"N": 42, "K": 4 << 10, "M": 5 << 20, "G": 2 << 30, "T": 1 << 40} {
		if got := r.Int64(key, -1); got != want {
			t.Errorf("Int64(%s) = %d, want %d", key, got, want)
		}
	}
	if got := r.Int("N", 0); got != 42 {
		t.Errorf("Int = %d", got)
	}
	if !r.Bool("B", false) || r.Bool("B0", true) || !r.Bool("UNSET", true) {
		t.Error("Bool")
	}
	if got := r.Required("REQ"); got != "x" {
		t.Errorf("Required = %q", got)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}
}

// TestErrorsNameEveryBadSetting: each bad value gives the default back and an error naming
// its key; Err reports them all at once.
func TestErrorsNameEveryBadSetting(t *testing.T) {
	r := envconf.New(env(map[string]string{
		"D": "soon", "NEG_D": "-1s", "N": "many", "NEG_N": "-3", "HUGE": "99999999999T", "B": "yes please",
	}))
	if got := r.Duration("D", time.Second); got != time.Second {
		t.Errorf("bad Duration = %v, want the default", got)
	}
	r.Duration("NEG_D", 0)
	if got := r.Int64("N", 7); got != 7 {
		t.Errorf("bad Int64 = %d, want the default", got)
	}
	r.Int64("NEG_N", 0)
	if got := r.Int64("HUGE", 7); got != 7 {
		t.Errorf("overflowing Int64 = %d, want the default", got)
	}
	if got := r.Bool("B", true); !got {
		t.Error("bad Bool, want the default")
	}
	r.Required("MISSING")
	r.Fail("CUSTOM", "must be at least %d", 3)
	err := r.Err()
	if err == nil {
		t.Fatal("Err = nil")
	}
	for _, key := range []string{"D:", "NEG_D:", "N:", "NEG_N:", "HUGE:", "B:", "MISSING: required", "CUSTOM: must be at least 3"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Err does not name %s: %v", key, err)
		}
	}
}

func TestSecret(t *testing.T) {
	files := map[string]string{"/run/secrets/kek": "  s3cr3t-from-file\n"}
	readFile := func(name string) ([]byte, error) {
		if v, ok := files[name]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
		bad  string // the key the error names; "" for none
	}{
		{"value", map[string]string{"KEK": " s3cr3t "}, "s3cr3t", ""},
		{"file", map[string]string{"KEK_FILE": "/run/secrets/kek"}, "s3cr3t-from-file", ""},
		{"unset", map[string]string{}, "", ""},
		{"both", map[string]string{"KEK": "s3cr3t", "KEK_FILE": "/run/secrets/kek"}, "", "KEK:"},
		{"missing file", map[string]string{"KEK_FILE": "/nowhere"}, "", "KEK_FILE:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := envconf.New(env(tc.env))
			if got := r.Secret("KEK", readFile); got != tc.want {
				t.Errorf("Secret = %q, want %q", got, tc.want)
			}
			err := r.Err()
			if (err != nil) != (tc.bad != "") || (err != nil && !strings.HasPrefix(err.Error(), tc.bad)) {
				t.Fatalf("Err = %v, want one naming %q", err, tc.bad)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error shows the secret: %v", err)
			}
			if tc.name == "missing file" && !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "cannot read") {
				t.Fatalf("Err = %v, want it to say the file cannot be read", err)
			}
		})
	}
}
