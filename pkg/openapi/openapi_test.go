package openapi_test

import (
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/cofferhq/coffer/pkg/openapi"
)

func TestCheck(t *testing.T) {
	doc := []byte(`{"openapi":"3.1.0","paths":{"/v1/files/{id}":{"get":{},"parameters":[]},"/gone":{"post":{}}}}`)
	routes := gin.RoutesInfo{{Method: "GET", Path: "/v1/files/:id"}, {Method: "DELETE", Path: "/v1/files/:id"}}
	errs := openapi.Check(doc, routes)
	if len(errs) != 2 {
		t.Fatalf("Check found %d problems, want 2 (undocumented DELETE, stale POST /gone): %v", len(errs), errs)
	}
	if errs := openapi.Check([]byte(`{"openapi":"3.0.3","paths":{}}`), nil); len(errs) != 1 {
		t.Fatalf("an OpenAPI 3.0 document passed: %v", errs)
	}
}
