package jsonbody_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/pkg/jsonbody"
	"github.com/cofferhq/coffer/pkg/problem"
)

type share struct {
	UserID string `json:"user_id"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		status                  int // 0: decoded
		code                    string
	}{
		{"ok", "application/json", `{"user_id":"u1"}`, 0, ""},
		{"ok with charset", "application/json; charset=utf-8", `{"user_id":"u1"}`, 0, ""},
		{"ok with trailing space", "application/json", "{\"user_id\":\"u1\"}\n ", 0, ""},
		{"no media type", "", `{"user_id":"u1"}`, 415, "unsupported_media_type"},
		{"form", "application/x-www-form-urlencoded", `user_id=u1`, 415, "unsupported_media_type"},
		{"unknown field", "application/json", `{"user_id":"u1","admin":true}`, 400, "invalid_json"},
		{"wrong type", "application/json", `{"user_id":7}`, 400, "invalid_json"},
		{"not an object", "application/json", `[1,2]`, 400, "invalid_json"},
		{"truncated", "application/json", `{"user_id":`, 400, "invalid_json"},
		{"trailing data", "application/json", `{"user_id":"u1"}{"user_id":"u2"}`, 400, "invalid_json"},
		{"NUL in a string", "application/json", `{"user_id":"u\u00001"}`, 400, "invalid_request"},
		{"too large", "application/json", `{"user_id":"` + strings.Repeat("a", 100) + `"}`, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			v, err := jsonbody.Decode[share](httptest.NewRecorder(), r, 64)
			var p *problem.Details
			var tooLarge *http.MaxBytesError
			switch {
			case tc.status == 0:
				if err != nil || v.UserID != "u1" {
					t.Fatalf("Decode = %+v, %v; want u1, nil", v, err)
				}
			case tc.status == 413:
				if !errors.As(err, &tooLarge) || tooLarge.Limit != 64 {
					t.Fatalf("Decode err = %v, want a MaxBytesError of 64", err)
				}
			case !errors.As(err, &p) || p.Status != tc.status || p.Code != tc.code:
				t.Fatalf("Decode err = %v, want problem %d %s", err, tc.status, tc.code)
			}
		})
	}
}
