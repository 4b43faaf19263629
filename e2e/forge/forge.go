// Package forge builds JSON Web Tokens by hand for the attack suite: any header, any payload,
// any signature, including the malformed and hostile ones a real JWT library refuses to make.
//
// A token is base64url(header) "." base64url(payload) "." base64url(signature); forge writes
// those three parts itself, so a test controls every byte the verifier sees.
package forge

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// B64 is unpadded base64url, the JOSE encoding.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Signer computes a signature over the signing input (header "." payload).
type Signer func(signingInput []byte) []byte

// Token assembles a compact JWS. header and payload are marshalled as JSON unless they are
// already a string or []byte, which are used byte for byte (for duplicate members and other
// JSON a marshaller will not write). A nil signer leaves the signature empty.
func Token(header, payload any, sign Signer) string {
	in := B64(raw(header)) + "." + B64(raw(payload))
	var sig []byte
	if sign != nil {
		sig = sign([]byte(in))
	}
	return in + "." + B64(sig)
}

func raw(v any) []byte {
	switch v := v.(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("forge: marshal: %v", err))
	}
	return b
}

// Key is an RSA signing key with a key id.
type Key struct {
	Kid string
	RSA *rsa.PrivateKey
}

// NewKey generates a 2048-bit RSA key.
func NewKey(kid string) Key {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return Key{Kid: kid, RSA: k}
}

// JWK is the public JWK of the key, shaped like the auth service's (kid, kty, alg, use, n, e).
func (k Key) JWK() map[string]any {
	return map[string]any{
		"kid": k.Kid, "kty": "RSA", "alg": "RS256", "use": "sig",
		"n": B64(k.RSA.N.Bytes()), "e": B64(big.NewInt(int64(k.RSA.E)).Bytes()),
	}
}

// JWKS is a JWK Set holding the public halves of keys.
func JWKS(keys ...Key) []byte {
	set := struct {
		Keys []map[string]any `json:"keys"`
	}{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	return raw(set)
}

// PublicPEM is the PKIX public key in PEM, the form a confused verifier might use as an HMAC
// secret.
func (k Key) PublicPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicDER()})
}

// PublicDER is the PKIX public key in DER.
func (k Key) PublicDER() []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.RSA.PublicKey)
	if err != nil {
		panic(err)
	}
	return der
}

// RS256 signs with RSASSA-PKCS1-v1_5 and SHA-256.
func (k Key) RS256() Signer { return k.pkcs1(crypto.SHA256) }

// RS384 signs with RSASSA-PKCS1-v1_5 and SHA-384.
func (k Key) RS384() Signer { return k.pkcs1(crypto.SHA384) }

// PS256 signs with RSASSA-PSS and SHA-256.
func (k Key) PS256() Signer {
	return func(in []byte) []byte {
		h := sha256.Sum256(in)
		sig, err := rsa.SignPSS(rand.Reader, k.RSA, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func (k Key) pkcs1(h crypto.Hash) Signer {
	return func(in []byte) []byte {
		d := h.New()
		d.Write(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.RSA, h, d.Sum(nil))
		if err != nil {
			panic(err)
		}
		return sig
	}
}

// HMAC signs with HMAC using SHA-256 (HS256), SHA-384 (HS384) or SHA-512 (HS512).
func HMAC(alg string, secret []byte) Signer {
	return func(in []byte) []byte {
		var m = hmac.New(sha256.New, secret)
		switch alg {
		case "HS384":
			m = hmac.New(sha512.New384, secret)
		case "HS512":
			m = hmac.New(sha512.New, secret)
		}
		m.Write(in)
		return m.Sum(nil)
	}
}

// ES256ZeroSig is the "psychic signature" (CVE-2022-21449): r = s = 0.
func ES256ZeroSig() Signer { return func([]byte) []byte { return make([]byte, 64) } }

// EdDSA signs with a fresh Ed25519 key.
func EdDSA() Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

// Bytes is a fixed signature.
func Bytes(b []byte) Signer { return func([]byte) []byte { return b } }

// Claims are access token claims as a map, so a test can drop, retype or add any member.
type Claims map[string]any

// AccessClaims are valid access token claims for sub, issued now by iss for aud.
func AccessClaims(iss, aud, sub, scope string, now time.Time) Claims {
	return Claims{
		"iss": iss, "sub": sub, "aud": []string{aud},
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
		"jti": B64(randBytes(16)), "scope": scope, "client_id": "coffer",
	}
}

// With returns a copy of c with the given members set; a nil value deletes the member.
func (c Claims) With(kv ...any) Claims {
	out := Claims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
			continue
		}
		out[k] = kv[i+1]
	}
	return out
}

// Header is an RS256 at+jwt header with kid.
func Header(kid string) map[string]any {
	return map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": kid}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
