// Package envconf reads typed settings from environment variables through an injected getenv,
// collecting every bad value so a service can refuse to start with one message naming them all.
package envconf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Reader reads settings; check Err after the last read.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader over getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// Err joins every error met so far.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Fail records a validation error for key.
func (r *Reader) Fail(key, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// String returns the value of key, or def when unset or empty.
func (r *Reader) String(key, def string) string {
	if v := strings.TrimSpace(r.getenv(key)); v != "" {
		return v
	}
	return def
}

// Required returns the value of key and records an error when it is unset.
func (r *Reader) Required(key string) string {
	v := strings.TrimSpace(r.getenv(key))
	if v == "" {
		r.Fail(key, "required")
	}
	return v
}

// Duration parses a Go duration such as "15m".
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v := r.String(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.Fail(key, "%q is not a non-negative duration such as 15m", v)
		return def
	}
	return d
}

// Int64 parses an integer; a suffix K, M, G or T (powers of 1024) is allowed for sizes.
func (r *Reader) Int64(key string, def int64) int64 {
	v := r.String(key, "")
	if v == "" {
		return def
	}
	mult := int64(1)
	switch strings.ToUpper(v[len(v)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	case "T":
		mult = 1 << 40
	}
	num := v
	if mult != 1 {
		num = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		r.Fail(key, "%q is not a non-negative integer", v)
		return def
	}
	if n > math.MaxInt64/mult {
		r.Fail(key, "%q is too large", v)
		return def
	}
	return n * mult
}

// Int parses an integer.
func (r *Reader) Int(key string, def int) int { return int(r.Int64(key, int64(def))) }

// Bool parses true/false/1/0.
func (r *Reader) Bool(key string, def bool) bool {
	v := r.String(key, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.Fail(key, "%q is not true or false", v)
		return def
	}
	return b
}

// Secret reads a secret from key or, when key+"_FILE" is set, from that file (a mounted
// Kubernetes or Docker secret), trimmed. Setting both is an error. The value never appears
// in an error message. readFile is os.ReadFile outside tests.
func (r *Reader) Secret(key string, readFile func(string) ([]byte, error)) string {
	v := strings.TrimSpace(r.getenv(key))
	file := strings.TrimSpace(r.getenv(key + "_FILE"))
	switch {
	case file == "":
		return v
	case v != "":
		r.Fail(key, "set either %s or %s_FILE, not both", key, key)
		return ""
	}
	b, err := readFile(file)
	if err != nil {
		r.Fail(key+"_FILE", "cannot read: %v", err)
		return ""
	}
	return strings.TrimSpace(string(b))
}
