package tus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/cofferhq/coffer/services/files/internal/api"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

func TestParseUploadChecksum(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	tests := []struct {
		in      string
		want    []byte
		wantErr bool
	}{
		{"", nil, false},
		{"sha256 " + b64, sum[:], false},
		{"sha1 " + b64, nil, true},
		{"md5 AAAA", nil, true},
		{"sha256", nil, true},
		{"sha256 not-base64!", nil, true},
		{"sha256 " + base64.StdEncoding.EncodeToString(sum[:16]), nil, true},
	}
	for _, tc := range tests {
		got, err := parseUploadChecksum(tc.in)
		if (err != nil) != tc.wantErr || !bytes.Equal(got, tc.want) {
			t.Errorf("parseUploadChecksum(%q) = %x, %v", tc.in, got, err)
		}
	}
}

func TestMetadata(t *testing.T) {
	tests := []struct {
		meta             handler.MetaData
		wantName, wantCT string
		wantErr          bool
	}{
		{handler.MetaData{"filename": "a.txt", "filetype": "text/plain; charset=utf-8"}, "a.txt", "text/plain", false},
		{handler.MetaData{"name": "b.png", "type": "image/png"}, "b.png", "image/png", false},
		{handler.MetaData{"filename": "c"}, "c", "application/octet-stream", false},
		{handler.MetaData{}, "", "", true},
		{handler.MetaData{"filename": "a\r\nb"}, "", "", true},
		{handler.MetaData{"filename": "x", "filetype": "not a type"}, "", "", true},
	}
	for _, tc := range tests {
		name, ct, err := metadata(tc.meta)
		if (err != nil) != tc.wantErr || name != tc.wantName || ct != tc.wantCT {
			t.Errorf("metadata(%v) = %q, %q, %v", tc.meta, name, ct, err)
		}
		if err != nil && !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("metadata(%v): %v is not ErrInvalidInput", tc.meta, err)
		}
	}
}

// TestProblemWriter: tusd's plain-text errors become problem+json from the file service's one
// error map (no internal detail in a 500), an error of the store keeps its problem and headers
// (Retry-After on a 503), successful responses pass through, OPTIONS gains the extensions
// tusd does not know.
func TestProblemWriter(t *testing.T) {
	errs := api.Errors{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxFileSize: 1 << 20}
	send := func(method string, req *request, resp handler.HTTPResponse, header map[string]string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(method, "/v1/uploads/x", nil)
		pw := &problemWriter{ResponseWriter: rec, r: r, req: req, problem: errs.Problem}
		for k, v := range header {
			rec.Header().Set(k, v)
		}
		for k, v := range resp.Header {
			pw.Header().Set(k, v)
		}
		pw.WriteHeader(resp.StatusCode)
		if resp.Body != "" {
			pw.Write([]byte(resp.Body))
		}
		pw.finish()
		return rec
	}
	rec := send("PATCH", &request{expiresAt: time.Now()}, handler.ErrNotFound.HTTPResponse, nil)
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" || !strings.Contains(rec.Body.String(), `"code":"not_found"`) || rec.Header().Get("Upload-Expires") != "" {
		t.Fatalf("404: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = send("HEAD", &request{}, handler.HTTPResponse{StatusCode: 404, Header: handler.HTTPHeader{"Content-Type": "text/plain; charset=utf-8"}}, nil)
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("HEAD 404: %d %v", rec.Code, rec.Header())
	}
	internal := handler.NewError("ERR_INTERNAL_SERVER_ERROR", "postgres: secret detail", 500)
	rec = send("POST", &request{}, internal.HTTPResponse, nil)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("500: %d %s", rec.Code, rec.Body)
	}
	s := NewStore(nil, Config{Problem: errs.Problem})
	for _, tc := range []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{files.ErrChecksumMismatch, 460, "checksum_mismatch", ""},
		{fmt.Errorf("postgres: dial 10.0.0.7: %w", files.ErrUnavailable), 503, "unavailable", "2"},
		{fmt.Errorf("wrapped secret: %w", files.Invalid("bad name")), 400, "invalid_request", ""},
		{files.ErrUploadExpired, 410, "upload_expired", ""},
	} {
		req := &request{}
		ctx := context.WithValue(context.Background(), requestKey{}, req)
		var te handler.Error
		if !errors.As(s.fail(ctx, tc.err), &te) {
			t.Fatalf("fail(%v) is no handler.Error", tc.err)
		}
		rec = send("PATCH", req, te.HTTPResponse, nil)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) || rec.Header().Get("Retry-After") != tc.retryAfter {
			t.Errorf("%v: %d %v %s, want %d %s Retry-After %q", tc.err, rec.Code, rec.Header(), rec.Body, tc.status, tc.code, tc.retryAfter)
		}
		if strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Body.String(), "10.0.0.7") {
			t.Errorf("%v: the body leaks the wrapped text: %s", tc.err, rec.Body)
		}
		// Without the request's record (a context tusd did not pass on), the headers still go.
		rec = send("PATCH", &request{}, te.HTTPResponse, nil)
		if rec.Code != tc.status || rec.Header().Get("Retry-After") != tc.retryAfter {
			t.Errorf("%v without the record: %d %v", tc.err, rec.Code, rec.Header())
		}
	}
	rec = send("OPTIONS", &request{}, handler.HTTPResponse{StatusCode: 200, Header: handler.HTTPHeader{"Tus-Extension": "creation"}}, nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Tus-Extension") != "creation,checksum,expiration" || rec.Header().Get("Tus-Checksum-Algorithm") != "sha256" {
		t.Fatalf("OPTIONS: %d %v", rec.Code, rec.Header())
	}
}

func FuzzParseHeaders(f *testing.F) {
	f.Add("sha256 AAAA")
	f.Fuzz(func(t *testing.T, checksum string) {
		if sum, err := parseUploadChecksum(checksum); err == nil && sum != nil && len(sum) != 32 {
			t.Fatalf("checksum of %d bytes accepted", len(sum))
		}
	})
}
