package e2e_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/forge"
)

// Section B of SECURITY.md: tokens signed by the trusted key whose claims or header make them
// invalid, and tokens presented the wrong way. The node's leeway is its default, 30s.

// TestAttackExpiryAndTime: exp beyond the leeway, no exp, nbf and iat in the future; and, as
// controls, exp just inside the leeway and a token with no nbf are accepted.
func TestAttackExpiryAndTime(t *testing.T) {
	f := startForgeStack(t)
	now := time.Now()
	c := f.Claims("files:read files:write")
	f.expectAccepted(t, f.Sign(c.With("exp", now.Add(-10*time.Second).Unix())))
	f.expectAccepted(t, f.Sign(c.With("nbf", nil)))
	runRejected(t, f, []tokenCase{
		{"expired_beyond_leeway", f.Sign(c.With("exp", now.Add(-2*time.Minute).Unix(), "iat", now.Add(-10*time.Minute).Unix(), "nbf", now.Add(-10*time.Minute).Unix()))},
		{"expired_long_ago", f.Sign(c.With("exp", 1, "iat", 0, "nbf", 0))},
		{"no_exp", f.Sign(c.With("exp", nil))},
		{"nbf_in_future", f.Sign(c.With("nbf", now.Add(10*time.Minute).Unix(), "exp", now.Add(20*time.Minute).Unix()))},
		{"iat_in_future", f.Sign(c.With("iat", now.Add(10*time.Minute).Unix(), "exp", now.Add(20*time.Minute).Unix()))},
		{"expired_and_badly_signed", forge.Token(forge.Header(f.Trusted.Kid), c.With("exp", now.Add(-time.Hour).Unix()), f.Attacker.RS256())},
	})
}

// TestAttackAudienceIssuer: wrong or missing aud or iss.
func TestAttackAudienceIssuer(t *testing.T) {
	f := startForgeStack(t)
	c := f.Claims("files:read files:write")
	f.expectAccepted(t, f.Sign(c.With("aud", f.Audience))) // a single-string aud is valid
	runRejected(t, f, []tokenCase{
		{"aud_wrong", f.Sign(c.With("aud", []string{"coffer-auth"}))},
		{"aud_missing", f.Sign(c.With("aud", nil))},
		{"aud_empty", f.Sign(c.With("aud", []string{}))},
		{"aud_prefix", f.Sign(c.With("aud", f.Audience+"-evil"))},
		{"aud_case", f.Sign(c.With("aud", strings.ToUpper(f.Audience)))},
		{"iss_wrong", f.Sign(c.With("iss", "http://evil.test"))},
		{"iss_missing", f.Sign(c.With("iss", nil))},
		{"iss_trailing_slash", f.Sign(c.With("iss", f.Issuer+"/"))},
		{"iss_case", f.Sign(c.With("iss", strings.ToUpper(f.Issuer)))},
	})
}

// TestAttackWrongTyp: typ must be at+jwt (RFC 9068). A refresh token, a link token or an
// ID-token-shaped JWT, even signed by the trusted key, is not an access token.
func TestAttackWrongTyp(t *testing.T) {
	f := startForgeStack(t)
	c := f.Claims("files:read files:write")
	h := func(typ any) map[string]any {
		m := map[string]any{"alg": "RS256", "kid": f.Trusted.Kid}
		if typ != nil {
			m["typ"] = typ
		}
		return m
	}
	f.expectAccepted(t, f.SignHeader(h("application/at+jwt"), c))
	idToken := c.With("aud", "coffer-web", "nonce", "n-0S6_WzA2Mj", "scope", nil, "auth_time", time.Now().Unix())
	runRejected(t, f, []tokenCase{
		{"typ_missing", f.SignHeader(h(nil), c)},
		{"typ_JWT", f.SignHeader(h("JWT"), c)},
		{"typ_empty", f.SignHeader(h(""), c)},
		{"typ_refresh", f.SignHeader(h("refresh+jwt"), c)},
		{"typ_link", f.SignHeader(h("link+jwt"), c.With("file_id", f.VictimFiles[0].ID))},
		{"typ_id_token_shape", f.SignHeader(h("JWT"), idToken)},
		{"typ_id_token_with_files_aud", f.SignHeader(h("JWT"), idToken.With("aud", f.Audience, "scope", "files:read files:write"))},
		{"typ_number", f.SignHeader(h(1), c)},
		{"typ_at_jwt_suffix", f.SignHeader(h("at+jwt+evil"), c)},
	})
}

// TestAttackClaimTypes: claims of the wrong JSON type are refused, not coerced.
func TestAttackClaimTypes(t *testing.T) {
	f := startForgeStack(t)
	c := f.Claims("files:read files:write")
	runRejected(t, f, []tokenCase{
		{"exp_string", f.Sign(c.With("exp", "9999999999"))},
		{"exp_array", f.Sign(c.With("exp", []int64{9999999999}))},
		{"exp_object", f.Sign(c.With("exp", map[string]int{"t": 1}))},
		{"exp_1e300", f.Sign(c.With("exp", 1e300))},
		{"exp_negative_huge", f.Sign(c.With("exp", -1e300))},
		{"exp_bool", f.Sign(c.With("exp", true))},
		{"nbf_string", f.Sign(c.With("nbf", "0"))},
		{"iat_string", f.Sign(c.With("iat", "0"))},
		{"sub_number", f.Sign(c.With("sub", 12345))},
		{"sub_array", f.Sign(c.With("sub", []string{f.Victim}))},
		{"sub_empty", f.Sign(c.With("sub", ""))},
		{"sub_missing", f.Sign(c.With("sub", nil))},
		{"aud_number", f.Sign(c.With("aud", 1))},
		{"iss_number", f.Sign(c.With("iss", 1))},
		{"scope_array", f.Sign(c.With("scope", []string{"files:read", "files:write"}))},
		{"claims_null", f.SignHeader(forge.Header(f.Trusted.Kid), "null")},
	})
}

// TestAttackTokenTransport: only "Authorization: Bearer <token>" carries a token.
func TestAttackTokenTransport(t *testing.T) {
	f := startForgeStack(t)
	valid := f.Sign(f.Claims("files:read files:write"))
	f.expectAccepted(t, valid)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.Victim+":password"))
	for _, tc := range []struct{ name, authz, query string }{
		{"no_header", "", ""},
		{"token_without_scheme", valid, ""},
		{"bearer_only", "Bearer", ""},
		{"bearer_empty", "Bearer ", ""},
		{"bearer_spaces", "Bearer    ", ""},
		{"basic", basic, ""},
		{"basic_with_token_as_password", "Basic " + base64.StdEncoding.EncodeToString([]byte(f.Victim+":"+valid)), ""},
		{"other_scheme", "Token " + valid, ""},
		{"bearer_no_space", "Bearer" + valid, ""},
		{"two_tokens", "Bearer " + valid + " " + valid, ""},
		{"query_access_token", "", "access_token=" + valid},
		{"query_token", "", "token=" + valid},
	} {
		t.Run(tc.name, func(t *testing.T) { f.expectRejectedHeader(t, tc.authz, tc.query) })
	}
	t.Run("cookie", func(t *testing.T) {
		r := f.c.do("GET", f.Node.URL+"/v1/files", nil, map[string]string{"Cookie": "access_token=" + valid})
		if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("token in a cookie: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
		}
	})
}

// TestAttackMissingScope: a token without files:write cannot upload or delete; one without
// files:read cannot list or download. 403 insufficient_scope, nothing changed.
func TestAttackMissingScope(t *testing.T) {
	f := startForgeStack(t)
	id := f.VictimFiles[0].ID
	write := []struct{ Method, Path string }{{"POST", "/v1/files?name=planted.txt"}, {"DELETE", "/v1/files/" + id}}
	read := []struct{ Method, Path string }{{"GET", "/v1/files"}, {"GET", "/v1/files/" + id}, {"GET", "/v1/files/" + id + "/content"}}
	for _, tc := range []struct {
		name, scope string
		denied      []struct{ Method, Path string }
		want        string
	}{
		{"read_only_cannot_write", "files:read", write, "files:write"},
		{"share_only_cannot_write", "files:share", write, "files:write"},
		{"write_only_cannot_read", "files:write", read, "files:read"},
		{"no_scope_cannot_read", "", read, "files:read"},
		{"no_scope_cannot_write", "", write, "files:write"},
		{"lookalike_scope", "files:read,files:write files:readwrite FILES:WRITE", write, "files:write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := f.Sign(f.Claims(tc.scope))
			for _, rt := range tc.denied {
				r := f.c.do(rt.Method, f.Node.URL+rt.Path, strings.NewReader("planted"), bearer(tok))
				if r.Status != http.StatusForbidden || r.problemCode(t) != "insufficient_scope" {
					t.Fatalf("%s %s with scope %q: %d %s, want 403 insufficient_scope", rt.Method, rt.Path, tc.scope, r.Status, r.Body)
				}
				ch := r.Header.Get("WWW-Authenticate")
				if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, tc.want) {
					t.Fatalf("WWW-Authenticate %q, want Bearer insufficient_scope naming %s", ch, tc.want)
				}
				assertNoLeak(t, r.Body, f.Trusted, tok)
			}
			f.assertUnchanged(t)
		})
	}
	// Control: the read scope does read.
	if r := f.c.do("GET", f.Node.URL+"/v1/files/"+id+"/content", nil, bearer(f.Sign(f.Claims("files:read")))); r.Status != http.StatusOK {
		t.Fatalf("files:read token cannot download: %d", r.Status)
	}
}
