// Package tokenauth verifies Coffer access tokens statelessly: signatures are checked against
// the auth service's JWK Set, fetched and cached by keyfunc, never by calling auth per request.
//
// Verification pins RS256, requires typ at+jwt (RFC 9068), checks iss, aud, exp (required),
// nbf and iat with a small leeway, refuses unknown critical headers, and bounds token size
// before any parsing.
package tokenauth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/backoff"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Errors.
var (
	// ErrInvalidToken means the token is malformed, forged, expired or not meant for us.
	ErrInvalidToken = errors.New("invalid token")
	// ErrNotReady means no verification key has been loaded yet. It wraps
	// files.ErrUnavailable: the caller should retry, not treat the token as invalid.
	ErrNotReady = fmt.Errorf("%w: token verification keys not loaded", files.ErrUnavailable)
)

// MaxTokenBytes bounds the size of a token accepted for parsing.
const MaxTokenBytes = accesstoken.MaxTokenBytes

// DefaultRefreshInterval is how often the JWK Set is re-fetched unless configured otherwise.
const DefaultRefreshInterval = 5 * time.Minute

// Options configures a Verifier.
type Options struct {
	// JWKSURL is the auth service's JWK Set. Required.
	JWKSURL string
	// Issuer and Audience are the required iss and aud. Required.
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat, as given: 0 is none. The service's
	// configuration defaults it to accesstoken.DefaultLeeway.
	Leeway time.Duration
	// RefreshInterval is how often the JWK Set is re-fetched. Default DefaultRefreshInterval;
	// it should not exceed the auth service's JWKS max-age.
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
	// CacheSize is how many verified tokens are remembered. Default 10,000; negative
	// disables the cache.
	CacheSize int
}

// Verifier checks access tokens.
type Verifier struct {
	opts      Options
	kf        atomic.Pointer[keyfunc.Keyfunc]
	validator *accesstoken.Validator
	cache     *verifiedCache
	keys      atomic.Pointer[keySnapshot] // for cached tokens (publishedKey)
}

// New returns a Verifier. Call Run to load and refresh keys; until the first key arrives,
// Verify returns ErrNotReady.
func New(opts Options) (*Verifier, error) {
	if opts.JWKSURL == "" || opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("tokenauth: JWKSURL, Issuer and Audience are required")
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
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
	switch {
	case opts.CacheSize == 0:
		opts.CacheSize = 10_000
	case opts.CacheSize < 0:
		opts.CacheSize = 0
	}
	v := &Verifier{opts: opts, cache: newVerifiedCache(opts.CacheSize)}
	v.validator = accesstoken.NewValidator(opts.Issuer, opts.Audience, opts.Leeway, opts.Now)
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
	var stop context.CancelFunc // the successful attempt's: it ends keyfunc's refreshing
	err := backoff.Retry(ctx, 200*time.Millisecond, 10*time.Second, func() error {
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
				stop = cancel
				return nil
			}
			err = errors.New("jwk set holds no keys")
		}
		cancel()
		return err
	}, func(err error, wait time.Duration) {
		v.opts.Logger.Warn("fetch jwks; retrying", "url", v.opts.JWKSURL, "err", err, "in", wait)
	})
	if err != nil {
		return // ctx ended
	}
	<-ctx.Done()
	stop()
}

// Verify checks a raw access token and returns its claims.
func (v *Verifier) Verify(ctx context.Context, raw string) (*accesstoken.Claims, error) {
	kfp := v.kf.Load()
	if kfp == nil {
		return nil, ErrNotReady
	}
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	if e, ok := v.cache.get(raw, v.opts.Now()); ok {
		if key, ok := v.publishedKey(ctx, *kfp, e.kid); ok && samePublicKey(key, e.key) {
			return e.claims, nil
		}
		// Not in the snapshot: a key published since (rotation) is asked for at once.
		if jwk, err := (*kfp).Storage().KeyRead(ctx, e.kid); err == nil && samePublicKey(jwk.Key(), e.key) {
			v.keys.Store(nil) // the snapshot is behind: the next cached token takes a new one
			return e.claims, nil
		}
		v.cache.remove(raw)
		return nil, fmt.Errorf("%w: signing key no longer published", ErrInvalidToken)
	}
	kf := (*kfp).KeyfuncCtx(ctx)
	var kid string
	var key any
	claims, err := v.validator.Validate(raw, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		k, err := kf(t)
		key = k
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if kid != "" {
		v.cache.put(raw, cacheEntry{claims: claims, kid: kid, key: key, expires: claims.ExpiresAt.Add(v.opts.Leeway)})
	}
	return claims, nil
}

// keyRecheck is how long a snapshot of the JWK Set's keys answers for cached tokens. Asking
// the JWK Set on every cached verification cost ~5% of a small download's CPU (jwkset builds a
// not-found error in its empty given store first); a key keyfunc has dropped at a refresh
// (every RefreshInterval) stops its cached tokens within keyRecheck after.
const keyRecheck = time.Second

// keySnapshot is the JWK Set's keys by kid, as read at some moment, and until when it answers.
type keySnapshot struct {
	until time.Time
	keys  map[string]any
}

// publishedKey returns the key the JWK Set publishes under kid, from a snapshot at most
// keyRecheck old (real time: keyfunc refreshes on the real clock, whatever Options.Now says).
func (v *Verifier) publishedKey(ctx context.Context, kf keyfunc.Keyfunc, kid string) (any, bool) {
	now := time.Now()
	s := v.keys.Load()
	if s == nil || !now.Before(s.until) {
		all, err := kf.Storage().KeyReadAll(ctx)
		if err != nil {
			return nil, false
		}
		s = &keySnapshot{until: now.Add(keyRecheck), keys: make(map[string]any, len(all))}
		for _, j := range all {
			s.keys[j.Marshal().KID] = j.Key()
		}
		v.keys.Store(s)
	}
	k, ok := s.keys[kid]
	return k, ok
}

// samePublicKey reports whether a (the key now published under a kid) is b (the key that
// verified a cached token).
func samePublicKey(a, b any) bool {
	type publicKeyer interface{ Public() crypto.PublicKey }
	if pk, ok := a.(publicKeyer); ok {
		a = pk.Public()
	}
	if a == b { // the same parsed key: the common case between JWKS refreshes
		return true
	}
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}
