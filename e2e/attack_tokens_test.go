package e2e_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/e2e/forge"
)

// Section A of SECURITY.md: forged tokens. Every case is aimed at the victim's files, and every
// case must get 401 with a Bearer challenge on every protected route, leak nothing, and change
// nothing. Each test first proves its stack accepts a correctly signed token, so a rejection
// means the defence worked and not that the stack is broken.

type tokenCase struct {
	name string
	tok  string
}

func runRejected(t *testing.T, f *forgeStack, cases []tokenCase) {
	t.Helper()
	f.expectAccepted(t, f.Sign(f.Claims("files:read files:write")))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { f.expectRejected(t, tc.tok) })
	}
}

// TestAttackAlgNone: "alg":"none" in any letter case, with an empty, a garbage or a real
// RS256 signature.
func TestAttackAlgNone(t *testing.T) {
	f := startForgeStack(t)
	var cases []tokenCase
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": f.Trusted.Kid}
		claims := f.Claims("files:read files:write")
		cases = append(cases,
			tokenCase{alg + "/no_signature", forge.Token(h, claims, nil)},
			tokenCase{alg + "/garbage_signature", forge.Token(h, claims, forge.Bytes([]byte("garbage")))},
			tokenCase{alg + "/rs256_signature", forge.Token(h, claims, f.Trusted.RS256())},
			tokenCase{alg + "/no_kid", forge.Token(map[string]any{"alg": alg, "typ": "at+jwt"}, claims, nil)},
		)
	}
	runRejected(t, f, cases)
}

// TestAttackTamperedToken: a genuine token whose payload was changed (another sub, more scope,
// later exp) keeps its signature; or whose signature was stripped or cut.
func TestAttackTamperedToken(t *testing.T) {
	f := startForgeStack(t)
	genuine := forge.Token(forge.Header(f.Trusted.Kid),
		forge.AccessClaims(f.Issuer, f.Audience, "user-attacker", "files:read", time.Now()), f.Trusted.RS256())
	parts := strings.Split(genuine, ".")
	swap := func(c forge.Claims) string {
		b, _ := json.Marshal(c)
		return parts[0] + "." + forge.B64(b) + "." + parts[2]
	}
	base := forge.AccessClaims(f.Issuer, f.Audience, "user-attacker", "files:read", time.Now())
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	flipped := append([]byte(nil), sig...)
	flipped[len(flipped)-1] ^= 1
	runRejected(t, f, []tokenCase{
		{"payload_sub_changed", swap(base.With("sub", f.Victim))},
		{"payload_scope_widened", swap(base.With("sub", f.Victim, "scope", "files:read files:write files:share"))},
		{"payload_exp_extended", swap(base.With("sub", f.Victim, "exp", time.Now().Add(1000*time.Hour).Unix()))},
		{"signature_stripped", parts[0] + "." + parts[1] + "."},
		{"signature_stripped_no_dot", parts[0] + "." + parts[1]},
		{"signature_truncated", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4]},
		{"signature_bit_flipped", parts[0] + "." + parts[1] + "." + forge.B64(flipped)},
		{"signature_of_other_token", parts[0] + "." + forge.B64(mustJSON(base.With("sub", f.Victim))) + "." +
			strings.Split(f.Sign(f.Claims("files:read")), ".")[2]},
	})
}

// TestAttackHMACKeyConfusion: HS256/384/512 signed with the RSA public key taken from the
// JWKS, as PEM (with and without the final newline), DER, the JWK JSON, and the raw modulus.
// The JWKS carries no "alg", as in TestAttackOtherAlgorithms.
func TestAttackHMACKeyConfusion(t *testing.T) {
	f := startForgeStackJWK(t, false)
	// The attacker takes the key from the same JWKS the node trusts.
	r := f.c.do("GET", f.JWKSURL, nil, nil)
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	r.JSON(t, &set)
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS holds %d keys, want 1", len(set.Keys))
	}
	pemKey := f.Trusted.PublicPEM()
	secrets := map[string][]byte{
		"pem":            pemKey,
		"pem_no_newline": []byte(strings.TrimSuffix(string(pemKey), "\n")),
		"der":            f.Trusted.PublicDER(),
		"jwk":            set.Keys[0],
		"jwks":           r.Body,
		"modulus":        f.Trusted.RSA.N.Bytes(),
		"empty":          {},
	}
	var cases []tokenCase
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		for name, secret := range secrets {
			h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": f.Trusted.Kid}
			cases = append(cases, tokenCase{alg + "/" + name, forge.Token(h, f.Claims("files:read files:write"), forge.HMAC(alg, secret))})
		}
	}
	runRejected(t, f, cases)
}

// TestAttackEmbeddedKeys: keys carried in the token itself (jwk, jku, x5u, x5c) are never
// trusted, and jku/x5u URLs are never fetched: the listener they name must see no request.
func TestAttackEmbeddedKeys(t *testing.T) {
	f := startForgeStack(t)
	var hits atomic.Int64
	lis := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(forge.JWKS(f.Attacker))
	}))
	defer lis.Close()
	x := f.Attacker
	claims := f.Claims("files:read files:write")
	hdr := func(kv ...any) map[string]any {
		h := map[string]any{"alg": "RS256", "typ": "at+jwt"}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i].(string)] = kv[i+1]
		}
		return h
	}
	runRejected(t, f, []tokenCase{
		{"jwk_header", forge.Token(hdr("jwk", x.JWK()), claims, x.RS256())},
		{"jwk_header_with_kid", forge.Token(hdr("jwk", x.JWK(), "kid", x.Kid), claims, x.RS256())},
		{"jwk_header_with_trusted_kid", forge.Token(hdr("jwk", x.JWK(), "kid", f.Trusted.Kid), claims, x.RS256())},
		{"jku_header", forge.Token(hdr("jku", lis.URL+"/jwks.json", "kid", x.Kid), claims, x.RS256())},
		{"jku_header_trusted_kid", forge.Token(hdr("jku", lis.URL+"/jwks.json", "kid", f.Trusted.Kid), claims, x.RS256())},
		{"x5u_header", forge.Token(hdr("x5u", lis.URL+"/cert.pem", "kid", x.Kid), claims, x.RS256())},
		{"x5c_header", forge.Token(hdr("x5c", []string{base64.StdEncoding.EncodeToString(x.PublicDER())}, "kid", x.Kid), claims, x.RS256())},
	})
	if n := hits.Load(); n != 0 {
		t.Fatalf("the attacker's key URL saw %d requests, want 0", n)
	}
}

// TestAttackKidTricks: kid values that would traverse paths, inject SQL, exhaust memory or
// confuse a type switch; and the trusted kid on the attacker's key.
func TestAttackKidTricks(t *testing.T) {
	f := startForgeStack(t)
	claims := f.Claims("files:read files:write")
	x := f.Attacker
	withKid := func(kid any, sign forge.Signer) string {
		return forge.Token(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid}, claims, sign)
	}
	hsKid := func(kid any, secret string) string {
		return forge.Token(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, forge.HMAC("HS256", []byte(secret)))
	}
	runRejected(t, f, []tokenCase{
		{"trusted_kid_attacker_key", withKid(f.Trusted.Kid, x.RS256())},
		{"traversal_dev_null_empty_hmac", hsKid("../../../../../../dev/null", "")},
		{"traversal_etc_passwd", withKid("../../../../etc/passwd", x.RS256())},
		{"traversal_encoded", withKid("..%2f..%2f..%2fetc%2fpasswd", x.RS256())},
		{"sql_union", hsKid("x' UNION SELECT 'secret' --", "secret")},
		{"sql_or", withKid("' OR '1'='1", x.RS256())},
		{"long_200", withKid(strings.Repeat("k", 200), x.RS256())},
		{"long_4000", withKid(strings.Repeat("k", 4000), x.RS256())},
		{"long_trusted_prefix", withKid(f.Trusted.Kid+strings.Repeat("\x00", 16), x.RS256())},
		{"number", withKid(1, x.RS256())},
		{"number_signed_by_trusted", withKid(1, f.Trusted.RS256())},
		{"array_with_trusted_kid", withKid([]string{f.Trusted.Kid}, x.RS256())},
		{"array_signed_by_trusted", withKid([]string{f.Trusted.Kid}, f.Trusted.RS256())},
		{"object", withKid(map[string]any{"kid": f.Trusted.Kid}, x.RS256())},
		{"null", withKid(nil, x.RS256())},
		{"bool", withKid(true, x.RS256())},
		{"empty", withKid("", x.RS256())},
		{"unknown_kid_attacker_key", withKid("unknown-"+randHex(8), x.RS256())},
	})
}

// TestAttackOtherAlgorithms: only RS256 is accepted, even when the signature is genuine under
// the other algorithm with the trusted key. The JWKS here carries no "alg", so the node's own
// pin (jwt.WithValidMethods) is what is tested, not keyfunc's match of the JWK's alg.
func TestAttackOtherAlgorithms(t *testing.T) {
	f := startForgeStackJWK(t, false)
	claims := f.Claims("files:read files:write")
	h := func(alg string) map[string]any {
		return map[string]any{"alg": alg, "typ": "at+jwt", "kid": f.Trusted.Kid}
	}
	runRejected(t, f, []tokenCase{
		{"RS384_trusted_key", forge.Token(h("RS384"), claims, f.Trusted.RS384())},
		{"PS256_trusted_key", forge.Token(h("PS256"), claims, f.Trusted.PS256())},
		{"RS256_label_PS256_signature", forge.Token(h("RS256"), claims, f.Trusted.PS256())},
		{"RS256_label_RS384_signature", forge.Token(h("RS256"), claims, f.Trusted.RS384())},
		{"ES256_r_s_zero", forge.Token(h("ES256"), claims, forge.ES256ZeroSig())},
		{"ES256_empty", forge.Token(h("ES256"), claims, nil)},
		{"EdDSA", forge.Token(h("EdDSA"), claims, forge.EdDSA())},
		{"HS256_guessable", forge.Token(h("HS256"), claims, forge.HMAC("HS256", []byte("secret")))},
		{"HS512_guessable", forge.Token(h("HS512"), claims, forge.HMAC("HS512", []byte("coffer")))},
		{"rs256_lowercase", forge.Token(h("rs256"), claims, f.Trusted.RS256())},
		{"alg_missing", forge.Token(map[string]any{"typ": "at+jwt", "kid": f.Trusted.Kid}, claims, f.Trusted.RS256())},
		{"alg_array", forge.Token(map[string]any{"alg": []string{"RS256"}, "typ": "at+jwt", "kid": f.Trusted.Kid}, claims, f.Trusted.RS256())},
	})
}

// TestAttackMalformedJOSE: wrong segment count, padding, bad base64, JSON that is not an
// object, crit headers and duplicate members, all on otherwise genuine tokens.
func TestAttackMalformedJOSE(t *testing.T) {
	f := startForgeStack(t)
	claims := f.Claims("files:read files:write")
	good := f.Sign(claims)
	p := strings.Split(good, ".")
	pad := func(s string) string {
		for len(s)%4 != 0 {
			s += "="
		}
		return s
	}
	std := func(s string) string { // the standard alphabet instead of base64url
		b, _ := base64.RawURLEncoding.DecodeString(s)
		return base64.StdEncoding.EncodeToString(b)
	}
	hdrJSON := fmt.Sprintf(`{"alg":"RS256","typ":"at+jwt","kid":%q}`, f.Trusted.Kid)
	payload := string(mustJSON(claims))
	runRejected(t, f, []tokenCase{
		{"one_segment", p[0]},
		{"two_segments", p[0] + "." + p[1]},
		{"four_segments", good + "." + p[2]},
		{"five_segments_jwe_shape", p[0] + ".." + p[1] + "." + p[2] + ".tag"},
		{"empty_segments", ".."},
		{"empty_header", "." + p[1] + "." + p[2]},
		{"padded_segments", pad(p[0]) + "." + pad(p[1]) + "." + pad(p[2])},
		{"padded_signature", p[0] + "." + p[1] + "." + pad(p[2]) + "=="},
		{"standard_base64", std(p[0]) + "." + std(p[1]) + "." + std(p[2])},
		{"bad_base64_char", p[0] + "." + p[1] + "." + p[2][:10] + "!" + p[2][11:]},
		{"whitespace_inside", p[0] + ". " + p[1] + "." + p[2]},
		{"header_not_json", forge.Token("not json", claims, f.Trusted.RS256())},
		{"header_json_array", forge.Token(`["RS256"]`, claims, f.Trusted.RS256())},
		{"payload_not_json", f.SignHeader(forge.Header(f.Trusted.Kid), "not json")},
		{"payload_json_array", f.SignHeader(forge.Header(f.Trusted.Kid), `[1,2]`)},
		{"payload_trailing_garbage", f.SignHeader(forge.Header(f.Trusted.Kid), payload+"x")},
		{"crit_exp", f.SignHeader(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": f.Trusted.Kid, "crit": []string{"exp"}, "exp": 1}, claims)},
		{"crit_b64_false", f.SignHeader(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": f.Trusted.Kid, "crit": []string{"b64"}, "b64": false}, claims)},
		{"crit_empty", f.SignHeader(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": f.Trusted.Kid, "crit": []string{}}, claims)},
		{"duplicate_alg_header", f.SignHeader(`{"alg":"none","typ":"at+jwt","kid":"`+f.Trusted.Kid+`","alg":"RS256"}`, claims)},
		{"duplicate_typ_header", f.SignHeader(`{"alg":"RS256","typ":"JWT","kid":"`+f.Trusted.Kid+`","typ":"at+jwt"}`, claims)},
		{"duplicate_sub_payload", f.SignHeader(hdrJSON, strings.Replace(payload, `{`, `{"sub":"user-attacker",`, 1))},
		{"duplicate_aud_payload", f.SignHeader(hdrJSON, strings.Replace(payload, `{`, `{"aud":"elsewhere",`, 1))},
	})
}

// TestAttackParserAmplification: huge tokens and thousands of dots are refused before any
// parsing, and the node's memory stays flat while it refuses hundreds of them.
func TestAttackParserAmplification(t *testing.T) {
	f := startForgeStack(t)
	big := f.SignHeader(forge.Header(f.Trusted.Kid), f.Claims("files:read").With("pad", strings.Repeat("A", 40<<10)))
	runRejected(t, f, []tokenCase{
		{"40KiB_signed_token", big},
		{"60KiB_of_A", strings.Repeat("A", 60<<10)},
		{"5000_dots", strings.Repeat(".", 5000)},
		{"20000_segments", strings.Repeat("a.", 20000)},
		{"deeply_nested_header", forge.Token(strings.Repeat("[", 5000)+strings.Repeat("]", 5000), "{}", nil)},
	})

	// A megabyte token never reaches the handler: net/http refuses the header block with 431,
	// exactly. The request goes over a raw connection whose response is read while the
	// request is still being written, so the server's early answer is always seen: a
	// transport error is a failure, not something to skip.
	mb := strings.Repeat("A", 1<<20)
	addr := strings.TrimPrefix(f.Node.URL, "http://")
	oversized := func() {
		t.Helper()
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		go func() {
			// The server stops reading at its header limit; the rest of this write may fail.
			conn.Write([]byte("GET /v1/files HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + mb + "\r\n\r\n"))
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("1 MiB token: no response: %v", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("1 MiB token: status %d, want 431", resp.StatusCode)
		}
		if strings.Contains(string(body), "AAAAAAAA") {
			t.Fatalf("431 body echoes the token: %.200s", body)
		}
	}
	oversized() // warm up: connection buffers, goroutines, the JWKS-loaded verifier
	for range 200 {
		f.c.do("GET", f.Node.URL+"/v1/files", nil, bearer(strings.Repeat("a.", 30000)))
	}
	before := procStatusKB(t, f.Node.Pid(), "VmRSS")
	for range 50 {
		oversized()
	}
	for range 200 {
		r := f.c.do("GET", f.Node.URL+"/v1/files", nil, bearer(strings.Repeat("a.", 30000)))
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("60 KiB of dots: %d", r.Status)
		}
	}
	after := procStatusKB(t, f.Node.Pid(), "VmRSS")
	t.Logf("file node VmRSS %d KiB before, %d KiB after 50 × 1 MiB and 200 × 60 KiB tokens", before, after)
	// 50 MiB of tokens went in; a node that buffered or kept even a fraction of them would
	// grow by more than this (the Go runtime's own drift under load is a few MiB).
	if after-before > 8<<10 {
		t.Fatalf("VmRSS grew by %d KiB while refusing oversized tokens, want at most 8 MiB", after-before)
	}
	f.assertUnchanged(t)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
