// Package accesstoken defines Coffer's access token: the RFC 9068 JWT profile that the auth
// service issues and every resource server (the file service, third parties) verifies.
//
// It is the contract between issuer and verifiers, so it lives in one place.
package accesstoken

import (
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Type is the JOSE "typ" header of an access token (RFC 9068 section 2.1).
const Type = "at+jwt"

// Algorithm is the only signing algorithm Coffer issues and accepts.
const Algorithm = "RS256"

// DefaultAudience is the aud of tokens for the file service unless both services are
// configured otherwise.
const DefaultAudience = "coffer-files"

// Scopes understood by the file service.
const (
	ScopeFilesRead  = "files:read"
	ScopeFilesWrite = "files:write"
	ScopeFilesShare = "files:share"
)

// AllScopes lists every scope, in a stable order.
var AllScopes = []string{ScopeFilesRead, ScopeFilesWrite, ScopeFilesShare}

// ClientSubjectPrefix starts the sub of every token a client gets for itself (the client
// credentials grant). User subjects are UUIDs and client ids cannot contain ':', so a client
// token can never name a user, whatever id the client was registered under.
const ClientSubjectPrefix = "client:"

// ClientSubject is the sub of a token issued to client id for itself.
func ClientSubject(clientID string) string { return ClientSubjectPrefix + clientID }

// IsClientSubject reports whether sub names a client rather than a user.
func IsClientSubject(sub string) bool { return strings.HasPrefix(sub, ClientSubjectPrefix) }

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	// Scope is the space-separated list of granted scopes (RFC 9068 section 2.2.3).
	Scope string `json:"scope"`
	// ClientID names the OAuth client the token was issued to (RFC 9068 section 2.2).
	ClientID string `json:"client_id,omitempty"`
	// Roles are the user's roles (ClaimRoles); only RoleAdmin exists.
	Roles []string `json:"roles,omitempty"`
	// PreferredUsername is the user's username when the token was issued (the OpenID
	// Connect standard claim ClaimPreferredUsername; RFC 9068 section 2.2.3.1 allows
	// identity claims). Absent on client tokens and on tokens of older auth services. It
	// is for display: a person is the sub, never this name.
	PreferredUsername string `json:"preferred_username,omitempty"`
}

// ClaimPreferredUsername names the claim that carries a user's username (OpenID Connect
// Core 1.0 section 5.1).
const ClaimPreferredUsername = "preferred_username"

// Scopes returns the granted scopes as a slice.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether scope s was granted.
func (c *Claims) HasScope(s string) bool { return slices.Contains(c.Scopes(), s) }

// FromHeader returns the token of an Authorization header value of the Bearer scheme (RFC
// 6750 section 2.1; the scheme name is case-insensitive), and false when there is none.
// Both services read access tokens only from this header, never from the query string.
func FromHeader(authorization string) (raw string, ok bool) {
	scheme, raw, ok := strings.Cut(authorization, " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return "", false
	}
	return raw, true
}
