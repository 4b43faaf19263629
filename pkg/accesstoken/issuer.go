package accesstoken

import "strings"

// NormalizeIssuer is the one spelling of an issuer setting that the auth service signs into
// iss and verifiers require: without trailing slashes, so "https://auth.example/" and
// "https://auth.example" configure the same issuer on either side.
func NormalizeIssuer(issuer string) string { return strings.TrimRight(issuer, "/") }
