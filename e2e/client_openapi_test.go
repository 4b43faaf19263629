package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	coffer "github.com/cofferhq/coffer/pkg/client"
)

// TestClientWireTypesMatchOpenAPI walks every schema of the OpenAPI document each running
// service serves and compares it with pkg/client's wire type of that schema: the same JSON
// field names, compatible JSON types, array items of the right type (the schema a $ref names
// being the element's own wire type), and a member the client may leave out (omitempty) exactly
// when the schema does not require it. A schema without a wire type fails unless listed in
// notInClient with the reason, so a new schema cannot go unchecked.
func TestClientWireTypesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	docs := map[string]map[string]any{"files": fetchSchemas(t, s.Files[0].URL), "auth": fetchSchemas(t, s.Auth.URL)}
	notInClient := map[string]string{
		"auth/Discovery": "OpenID and RFC 8414 discovery, read by OAuth libraries, not by pkg/client",
		"auth/JWKS":      "the signing keys, read by the file service's verifier, not by pkg/client",
		// Operators' surfaces, driven by coffer-files and admin tools, not by the client library.
		"files/Webhook":         "webhook subscriptions: the admin API (coffer-files webhooks)",
		"files/WebhookDelivery": "webhook deliveries: the admin API (coffer-files webhooks failed|retry)",
		// What the public pages read about a link or a file request before a download or an
		// upload without an account: the web page's, not pkg/client's.
		"files/LinkInfo":    "a link's public page metadata, read by the web page",
		"files/RequestInfo": "a file request's public page metadata, read by the web page",
	}
	wire := map[string]coffer.WireType{}
	byType := map[string]map[reflect.Type]string{"files": {}, "auth": {}}
	for _, wt := range coffer.WireTypes() {
		wire[wt.Service+"/"+wt.Schema] = wt
		byType[wt.Service][reflect.TypeOf(wt.Value)] = wt.Schema
	}
	for svc, schemas := range docs {
		if len(schemas) == 0 {
			t.Fatalf("the %s service's OpenAPI document has no schemas", svc)
		}
		for name := range schemas {
			key := svc + "/" + name
			if _, ok := wire[key]; !ok && notInClient[key] == "" {
				t.Errorf("schema %s has no wire type in pkg/client (WireTypes) and is not listed in notInClient", key)
			}
		}
	}
	for _, wt := range coffer.WireTypes() {
		t.Run(wt.Service+"/"+wt.Schema, func(t *testing.T) {
			schema, ok := docs[wt.Service][wt.Schema].(map[string]any)
			if !ok {
				t.Fatalf("the %s service's OpenAPI document has no schema %s", wt.Service, wt.Schema)
			}
			props, _ := schema["properties"].(map[string]any)
			var required []string
			if list, ok := schema["required"].([]any); ok {
				for _, r := range list {
					required = append(required, fmt.Sprint(r))
				}
			}
			fields := jsonFields(reflect.TypeOf(wt.Value))
			if len(fields) == 0 || len(props) == 0 {
				t.Fatalf("nothing to compare: %d Go fields, %d schema properties", len(fields), len(props))
			}
			for name, f := range fields {
				p, ok := props[name].(map[string]any)
				if !ok {
					t.Errorf("Go field %q is not in the schema", name)
					continue
				}
				if got, want := jsonKind(f.typ), schemaTypes(p); !slices.Contains(want, got) {
					t.Errorf("field %q: Go encodes %s, schema says %v", name, got, want)
				}
				if req := slices.Contains(required, name); req == f.omitempty {
					t.Errorf("field %q: required in the schema %v, omitted when empty in Go %v", name, req, f.omitempty)
				}
				elem := f.typ
				if elem.Kind() == reflect.Pointer {
					elem = elem.Elem()
				}
				if elem.Kind() != reflect.Slice || elem.Elem().Kind() == reflect.Uint8 {
					continue
				}
				items, _ := p["items"].(map[string]any)
				if items == nil {
					t.Errorf("field %q: an array without items in the schema", name)
					continue
				}
				if ref, ok := items["$ref"].(string); ok {
					if got := byType[wt.Service][elem.Elem()]; "#/components/schemas/"+got != ref {
						t.Errorf("field %q: items are %s in the schema, Go's %v is the wire type of %q", name, ref, elem.Elem(), got)
					}
				} else if got, want := jsonKind(elem.Elem()), schemaTypes(items); !slices.Contains(want, got) {
					t.Errorf("field %q: items: Go encodes %s, schema says %v", name, got, want)
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

// field is a struct field as encoding/json sees it.
type field struct {
	typ       reflect.Type
	omitempty bool // left out when empty (omitempty or omitzero)
}

// jsonFields maps the JSON names of a struct's encoded fields to their types.
func jsonFields(typ reflect.Type) map[string]field {
	out := map[string]field{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = field{typ: f.Type, omitempty: slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })}
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
