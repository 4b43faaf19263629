// Package openapi serves a service's embedded OpenAPI 3.1 document and checks it against the
// routes the service's Gin engine registers, so the document cannot drift from routes.go.
package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
)

// Handler serves doc as application/json.
func Handler(doc []byte) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "application/json", doc)
	}
}

var param = regexp.MustCompile(`:([A-Za-z_]+)`)

// Check reports every registered route missing from doc, every documented operation that is
// not a route, and a document that is not OpenAPI 3.1. Gin's ":id" is OpenAPI's "{id}".
func Check(doc []byte, routes gin.RoutesInfo) []error {
	var d struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return []error{fmt.Errorf("openapi document: %w", err)}
	}
	var errs []error
	if !strings.HasPrefix(d.OpenAPI, "3.1.") {
		errs = append(errs, fmt.Errorf("openapi = %q, want 3.1.x", d.OpenAPI))
	}
	registered := map[string]bool{}
	for _, r := range routes {
		path := param.ReplaceAllString(r.Path, "{$1}")
		method := strings.ToLower(r.Method)
		registered[method+" "+path] = true
		if _, ok := d.Paths[path][method]; !ok {
			errs = append(errs, fmt.Errorf("route %s %s is not in the OpenAPI document", r.Method, path))
		}
	}
	for path, ops := range d.Paths {
		for method := range ops {
			switch method {
			case "parameters", "summary", "description", "servers":
				continue
			}
			if !registered[method+" "+path] {
				errs = append(errs, fmt.Errorf("the OpenAPI document has %s %s, which is not a route", strings.ToUpper(method), path))
			}
		}
	}
	return errs
}
