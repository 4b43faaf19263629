package accesstoken

import "slices"

// ClaimRoles names the claim that carries the roles of a token's user (RFC 9068 section
// 7.2.1.1, after SCIM's "roles"): a JSON array of strings, absent for ordinary users.
const ClaimRoles = "roles"

// RoleAdmin is the role of Coffer's administrators. The auth service puts it in a user's
// token only when the user holds it (granted by `coffer-auth users grant-admin` or another
// admin) and the token's client may carry it (Coffer's own login client, or a client
// registered with --admin-role); both services' admin routes require it.
const RoleAdmin = "admin"

// HasRole reports whether the token carries role.
func (c *Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// IsAdmin reports whether the token carries RoleAdmin.
func (c *Claims) IsAdmin() bool { return c.HasRole(RoleAdmin) }
