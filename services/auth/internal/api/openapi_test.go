package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/pkg/openapi"
)

// TestOpenAPICoversEveryRoute walks the routes the Gin engine registered (routes.go) and
// requires each method and path in openapi.json, and nothing in the document that is not a
// route; it also checks the document is served at /openapi.json as OpenAPI 3.1.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	s := newTestServer()
	for _, err := range openapi.Check(openAPI, s.engine.Routes()) {
		t.Error(err)
	}

	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || string(body) != string(openAPI) {
		t.Fatalf("GET /openapi.json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

var discard = slog.New(slog.DiscardHandler)

// newTestServer builds the handler with no dependencies: enough to register routes and serve
// the document.
func newTestServer() *Server {
	return NewServer(discard, Config{Issuer: "http://issuer.test"}, nil, nil, nil, nil, func() bool { return true })
}
