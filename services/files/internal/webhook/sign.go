package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every secret, as in the Standard Webhooks libraries: the rest is the
// base64 of the HMAC key.
const SecretPrefix = "whsec_"

// NewSecret returns a new secret of 32 random bytes.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// ErrBadSecret means a secret is not whsec_ followed by base64 of at least 24 bytes.
var ErrBadSecret = errors.New("webhook: a secret must be whsec_ followed by base64 of at least 24 bytes")

// SecretKey returns the HMAC key a secret holds.
func SecretKey(secret string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(b) < 24 || !strings.HasPrefix(secret, SecretPrefix) {
		return nil, ErrBadSecret
	}
	return b, nil
}

// Sign returns the webhook-signature value of a message: "v1," and the base64 of the
// HMAC-SHA256, keyed by the secret's key, of "id.timestamp.body" (timestamp in Unix seconds).
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a message's headers against key, refusing a timestamp further than
// tolerance from now (replays). It is what a receiver written in Go does.
func Verify(key []byte, id, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) bool {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	ts := time.Unix(sec, 0)
	if ts.Before(now.Add(-tolerance)) || ts.After(now.Add(tolerance)) {
		return false
	}
	want := Sign(key, id, ts, body)
	for _, s := range strings.Fields(signatures) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}
