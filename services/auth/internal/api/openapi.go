package api

import _ "embed"

// openAPI is the OpenAPI 3.1 description of every route in routes.go; openapi_test.go keeps
// the two in step (see package openapi).
//
//go:embed openapi.json
var openAPI []byte
