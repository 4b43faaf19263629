// Package tokenauth verifies Coffer access tokens statelessly: signatures are checked against
// the auth service's JWK Set, fetched and cached by keyfunc, never by calling auth per request.
//
// Verification pins RS256, requires typ at+jwt (RFC 9068), checks iss, aud, exp (required),
// nbf and iat with a small leeway, refuses unknown critical headers, and bounds token size
// before any parsing.
package tokenauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// Errors.
var (
	// ErrInvalidToken means the token is malformed, forged, expired or not meant for us.
	ErrInvalidToken = errors.New("invalid token")
	// ErrNotReady means no verification key has been loaded yet.
	ErrNotReady = errors.New("token verification keys not loaded")
)

// MaxTokenBytes bounds the size of a token accepted for parsing.
const MaxTokenBytes = 8 << 10

// Options configures a Verifier.
type Options struct {
	// JWKSURL is the auth service's JWK Set. Required.
	JWKSURL string
	// Issuer and Audience are the required iss and aud. Required.
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s.
	Leeway time.Duration
	// RefreshInterval is how often the JWK Set is re-fetched. Default 5 minutes; it should
	// not exceed the auth service's JWKS max-age.
	RefreshInterval time.Duration
	// UnknownKIDInterval is the minimum time between JWK Set fetches caused by tokens with an
	// unknown kid, so a flood of random kids cannot flood the auth service. Default 1 minute.
	UnknownKIDInterval time.Duration
	// Client fetches the JWK Set. Default: a client with a 10s timeout.
	Client *http.Client
	// Logger receives fetch errors.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Verifier checks access tokens.
type Verifier struct {
	opts   Options
	kf     atomic.Pointer[keyfunc.Keyfunc]
	parser *jwt.Parser
}

// New returns a Verifier. Call Run to load and refresh keys; until the first key arrives,
// Verify returns ErrNotReady.
func New(opts Options) (*Verifier, error) {
	if opts.JWKSURL == "" || opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("tokenauth: JWKSURL, Issuer and Audience are required")
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = 5 * time.Minute
	}
	if opts.UnknownKIDInterval == 0 {
		opts.UnknownKIDInterval = time.Minute
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{opts: opts}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{accesstoken.Algorithm}),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithAudience(opts.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(opts.Now),
	)
	return v, nil
}

// Ready reports whether at least one verification key is loaded.
func (v *Verifier) Ready(ctx context.Context) bool {
	kf := v.kf.Load()
	if kf == nil {
		return false
	}
	keys, err := (*kf).Storage().KeyReadAll(ctx)
	return err == nil && len(keys) > 0
}

// Run fetches the JWK Set, retrying with backoff until it holds a key (so a node started
// while auth is down becomes ready by itself), then lets keyfunc refresh it in the
// background until ctx ends.
func (v *Verifier) Run(ctx context.Context) {
	delay := 200 * time.Millisecond
	for {
		attempt, cancel := context.WithCancel(ctx)
		no := false
		kf, err := keyfunc.NewDefaultOverrideCtx(attempt, []string{v.opts.JWKSURL}, keyfunc.Override{
			Client:                    v.opts.Client,
			HTTPTimeout:               10 * time.Second,
			NoErrorReturnFirstHTTPReq: &no,
			RefreshInterval:           v.opts.RefreshInterval,
			RefreshUnknownKID:         rate.NewLimiter(rate.Every(v.opts.UnknownKIDInterval), 1),
			// A token with an unknown kid never waits for the limiter: it fails at once.
			RateLimitWaitMax: time.Millisecond,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					v.opts.Logger.Warn("refresh jwks", "url", u, "err", err)
				}
			},
		})
		if err == nil {
			if keys, _ := kf.Storage().KeyReadAll(ctx); len(keys) > 0 {
				v.kf.Store(&kf)
				v.opts.Logger.Info("jwks loaded", "url", v.opts.JWKSURL, "keys", len(keys))
				<-ctx.Done()
				cancel()
				return
			}
			err = errors.New("jwk set holds no keys")
		}
		cancel()
		v.opts.Logger.Warn("fetch jwks; retrying", "url", v.opts.JWKSURL, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// Verify checks a raw access token and returns its claims.
func (v *Verifier) Verify(ctx context.Context, raw string) (*accesstoken.Claims, error) {
	kfp := v.kf.Load()
	if kfp == nil {
		return nil, ErrNotReady
	}
	if len(raw) > MaxTokenBytes || strings.Count(raw, ".") != 2 {
		return nil, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	kf := (*kfp).KeyfuncCtx(ctx)
	var claims accesstoken.Claims
	_, err := v.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if err := checkHeader(t.Header); err != nil {
			return nil, err
		}
		return kf(t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := checkClaimTypes(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.Subject == "" {
		return nil, fmt.Errorf("%w: no sub", ErrInvalidToken)
	}
	if err := checkDuplicates(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return &claims, nil
}

// checkClaimTypes rejects claims of the wrong JSON type that lenient decoding would accept:
// golang-jwt reads a NumericDate from a JSON string ("exp":"9999999999") and from any float
// (1e300). Times must be JSON numbers in a sane range; identifiers must be strings.
func checkClaimTypes(raw string) error {
	first := strings.IndexByte(raw, '.')
	last := strings.LastIndexByte(raw, '.')
	payload, err := base64.RawURLEncoding.DecodeString(raw[first+1 : last])
	if err != nil {
		return errors.New("payload encoding")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return errors.New("payload is not a JSON object")
	}
	for _, k := range []string{"exp", "nbf", "iat"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		var n json.Number
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
			return fmt.Errorf("%s is not a number", k)
		}
		f, err := n.Float64()
		if err != nil || f < 0 || f > maxNumericDate {
			return fmt.Errorf("%s out of range", k)
		}
	}
	for _, k := range []string{"iss", "sub", "jti", "scope", "client_id"} {
		if v, ok := m[k]; ok && (len(v) == 0 || v[0] != '"') {
			return fmt.Errorf("%s is not a string", k)
		}
	}
	return nil
}

// maxNumericDate is the year 5138: far beyond any real token, far below float overflow.
const maxNumericDate = 1e11

// checkHeader enforces the RFC 9068 typ and refuses headers that would change how the token
// is processed: crit (RFC 7515 4.1.11: unknown extensions must be rejected) and key-carrying
// headers, which are never trusted (keys come only from the JWKS).
func checkHeader(h map[string]any) error {
	typ, _ := h["typ"].(string)
	if !strings.EqualFold(typ, accesstoken.Type) && !strings.EqualFold(typ, "application/"+accesstoken.Type) {
		return errors.New("typ is not at+jwt")
	}
	if _, ok := h["crit"]; ok {
		return errors.New("crit header not supported")
	}
	if kid, ok := h["kid"]; ok {
		s, isString := kid.(string)
		if !isString || s == "" || len(s) > 128 {
			return errors.New("bad kid")
		}
	}
	return nil
}
