// Package problem writes RFC 9457 "problem details" responses.
//
// Every error a Coffer service returns to a client is an application/problem+json document with
// a stable machine-readable Code member, so clients branch on Code and never on prose.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of every problem response.
const ContentType = "application/problem+json"

// Details is an RFC 9457 problem document with Coffer's extension members.
type Details struct {
	// Type is a URI reference that identifies the problem type. Coffer uses a stable URN.
	Type string `json:"type"`
	// Title is a short, human-readable summary of the problem type.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail is a human-readable explanation specific to this occurrence. It never holds
	// internals (paths, SQL, stack traces).
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence (the request path).
	Instance string `json:"instance,omitempty"`
	// Code is the stable, machine-readable error code clients branch on.
	Code string `json:"code"`

	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration `json:"-"`
	// Header holds additional response headers (for example WWW-Authenticate).
	Header http.Header `json:"-"`
}

// New returns a problem with the given status, code and detail; the title is the status text.
func New(status int, code, detail string) *Details {
	return &Details{
		Type:   "urn:coffer:problem:" + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
}

// Error implements error so a problem can travel up a call chain.
func (d *Details) Error() string { return d.Code + ": " + d.Detail }

// Write sends d as the response. Instance defaults to the request path.
func Write(w http.ResponseWriter, r *http.Request, d *Details) {
	body := *d
	if body.Instance == "" && r != nil {
		body.Instance = r.URL.Path
	}
	h := w.Header()
	for k, vs := range d.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if d.RetryAfter > 0 {
		secs := int((d.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// A problem replaces whatever the handler meant to send: drop representation headers
	// that describe another body.
	for _, k := range []string{"Content-Length", "Content-Disposition", "Content-Range", "ETag", "Last-Modified", "Repr-Digest", "Content-Encoding"} {
		h.Del(k)
	}
	w.WriteHeader(body.Status)
	_ = json.NewEncoder(w).Encode(body)
}
