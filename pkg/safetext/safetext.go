// Package safetext is the one rule both services apply to text from a request before it can
// reach PostgreSQL: valid UTF-8 and no NUL character. PostgreSQL's text type refuses both,
// so without this check such input would surface as a server error instead of a 400.
package safetext

import (
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Valid reports whether s is valid UTF-8 without a NUL character.
func Valid(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// ValidValues reports whether every key and value of v is Valid.
func ValidValues(v url.Values) bool {
	for k, vs := range v {
		if !Valid(k) {
			return false
		}
		for _, s := range vs {
			if !Valid(s) {
				return false
			}
		}
	}
	return true
}

// ValidQuery reports whether a raw query string decodes to valid text: every escape is
// well formed and every key and value is Valid.
func ValidQuery(rawQuery string) bool {
	if rawQuery == "" {
		return true
	}
	v, err := url.ParseQuery(rawQuery)
	return err == nil && ValidValues(v)
}

// ValidStrings reports whether every string reachable from v (struct fields, map keys and
// values, slice and array elements, through pointers and interfaces) is Valid: the check for
// a decoded JSON body, whose \u0000 escapes become NUL characters.
func ValidStrings(v any) bool {
	return validValue(reflect.ValueOf(v), 0)
}

// maxDepth bounds the walk; decoded JSON is far shallower (encoding/json stops at 10,000).
const maxDepth = 10_000

func validValue(v reflect.Value, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch v.Kind() {
	case reflect.String:
		return Valid(v.String())
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || validValue(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !validValue(v.Field(i), depth+1) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return true // []byte holds bytes, not text
		}
		for i := range v.Len() {
			if !validValue(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if !validValue(it.Key(), depth+1) || !validValue(it.Value(), depth+1) {
				return false
			}
		}
	}
	return true
}
