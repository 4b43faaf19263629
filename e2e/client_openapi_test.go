package e2e_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	coffer "github.com/cofferhq/coffer/pkg/client"
)

// TestClientWireTypesMatchOpenAPI compares every wire type of pkg/client with the schema of
// the same name in the OpenAPI document each running service serves: the same JSON field
// names, compatible JSON types, and no field on either side that the other lacks.
func TestClientWireTypesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	docs := map[string]map[string]any{"files": fetchSchemas(t, s.Files[0].URL), "auth": fetchSchemas(t, s.Auth.URL)}
	for _, wt := range coffer.WireTypes() {
		t.Run(wt.Service+"/"+wt.Schema, func(t *testing.T) {
			schema, ok := docs[wt.Service][wt.Schema].(map[string]any)
			if !ok {
				t.Fatalf("the %s service's OpenAPI document has no schema %s", wt.Service, wt.Schema)
			}
			props, _ := schema["properties"].(map[string]any)
			fields := jsonFields(reflect.TypeOf(wt.Value))
			if len(fields) == 0 || len(props) == 0 {
				t.Fatalf("nothing to compare: %d Go fields, %d schema properties", len(fields), len(props))
			}
			for name, ft := range fields {
				p, ok := props[name].(map[string]any)
				if !ok {
					t.Errorf("Go field %q is not in the schema", name)
					continue
				}
				if got, want := jsonKind(ft), schemaTypes(p); !slices.Contains(want, got) {
					t.Errorf("field %q: Go encodes %s, schema says %v", name, got, want)
				}
			}
			for name := range props {
				if _, ok := fields[name]; !ok {
					t.Errorf("schema property %q has no Go field", name)
				}
			}
		})
	}
}

// fetchSchemas reads components/schemas of a service's served OpenAPI document.
func fetchSchemas(t *testing.T, base string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&doc) != nil {
		t.Fatalf("%s/openapi.json: status %d or not JSON", base, resp.StatusCode)
	}
	return doc.Components.Schemas
}

// jsonFields maps the JSON names of a struct's encoded fields to their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// jsonKind is the JSON Schema type a Go type encodes to ("null" is added for pointers).
func jsonKind(t reflect.Type) string {
	nullable := false
	if t.Kind() == reflect.Pointer {
		nullable, t = true, t.Elem()
	}
	var k string
	switch {
	case t == reflect.TypeFor[time.Time]():
		k = "string"
	case t.Kind() == reflect.String:
		k = "string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		k = "integer"
	case t.Kind() == reflect.Bool:
		k = "boolean"
	case t.Kind() == reflect.Slice:
		k = "array"
	default:
		k = "object"
	}
	if nullable {
		return k + "|null"
	}
	return k
}

// schemaTypes lists the Go encodings a property's schema accepts: its type (or the type of
// its const), with "T|null" when the type array allows null.
func schemaTypes(p map[string]any) []string {
	var types []string
	switch v := p["type"].(type) {
	case string:
		types = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				types = append(types, s)
			}
		}
	}
	if c, ok := p["const"]; ok && len(types) == 0 {
		if _, isString := c.(string); isString {
			types = []string{"string"}
		}
	}
	if _, ok := p["$ref"]; ok {
		types = append(types, "object")
	}
	var out []string
	hasNull := slices.Contains(types, "null")
	for _, t := range types {
		if t == "null" {
			continue
		}
		out = append(out, t)
		if hasNull {
			out = append(out, t+"|null")
		}
	}
	// A pointer field with omitempty leaves the member out rather than sending null; the
	// schema then lists the plain type.
	for _, t := range slices.Clone(out) {
		if !strings.HasSuffix(t, "|null") && !hasNull {
			out = append(out, t+"|null")
		}
	}
	return out
}
