// Package jsonbody reads JSON request bodies strictly, the same way in both services: the
// media type must be application/json, the body is bounded, unknown fields and trailing data
// are refused, and every refusal is a problem response ready to send.
package jsonbody

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/pkg/safetext"
)

// Decode reads r's body into a T. It returns a *problem.Details for a wrong media type (415),
// a body that is not exactly one JSON object of T's shape (400, code invalid_json) or one
// whose text holds a NUL character (400, code invalid_request: pkg/safetext), and
// the *http.MaxBytesError when the body exceeds maxBytes, so the caller's error mapping
// answers 413 as it does for every other body.
func Decode[T any](w http.ResponseWriter, r *http.Request, maxBytes int64) (T, error) {
	var v T
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return v, problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return v, err
		}
		return v, problem.New(http.StatusBadRequest, "invalid_json", "request body is not the expected JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return v, err
		}
		return v, problem.New(http.StatusBadRequest, "invalid_json", "request body has data after the JSON object")
	}
	// Valid JSON may still carry text PostgreSQL cannot store (a \u0000 escape).
	if !safetext.ValidStrings(v) {
		return v, problem.New(http.StatusBadRequest, "invalid_request", "text fields must be valid UTF-8 without NUL characters")
	}
	return v, nil
}
