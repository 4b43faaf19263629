package main

import (
	"encoding/base64"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/envconf"
	"github.com/cofferhq/coffer/services/auth/internal/api"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
)

// config is every setting of the auth service, read from the environment.
type config struct {
	Addr        string        // COFFER_AUTH_ADDR, default ":8081"
	DatabaseURL string        // COFFER_AUTH_DATABASE_URL, falling back to DATABASE_URL; required
	Issuer      string        // COFFER_AUTH_ISSUER, default "http://localhost:<port>"
	Audience    string        // COFFER_AUTH_AUDIENCE, default "coffer-files"
	AccessTTL   time.Duration // COFFER_AUTH_ACCESS_TOKEN_TTL, default 15m
	RefreshTTL  time.Duration // COFFER_AUTH_REFRESH_TOKEN_TTL, default 720h: a family's absolute lifetime
	RefreshIdle time.Duration // COFFER_AUTH_REFRESH_TOKEN_IDLE_TTL, default 168h: an unused token's lifetime
	ReuseWindow time.Duration // COFFER_AUTH_REFRESH_REUSE_INTERVAL, default 5s: a just-rotated refresh token retried within it returns the same successor; 0 turns it off
	SessionTTL  time.Duration // COFFER_AUTH_SESSION_TTL, default 1h: the authorization endpoint's sign-in session
	Signup      bool          // COFFER_AUTH_SIGNUP, default false
	KEK         []byte        // COFFER_AUTH_KEK (base64, 32 bytes) or COFFER_AUTH_KEK_FILE; required
	KeyBits     int           // COFFER_AUTH_KEY_BITS, default 2048
	KeyReload   time.Duration // COFFER_AUTH_KEY_RELOAD, default 30s: how often replicas re-read keys
	JWKSMaxAge  time.Duration // COFFER_AUTH_JWKS_MAX_AGE, default 5m
	KeyRotation time.Duration // COFFER_AUTH_KEY_ROTATION, default 720h: how long a key signs; 0 turns scheduled rotation off
	KeyLeeway   time.Duration // COFFER_AUTH_KEY_LEEWAY, default 5m: verifiers' clock leeway, added before a retired key is removed
	LoginWindow time.Duration // COFFER_AUTH_LOGIN_WINDOW, default 15m: the login throttling window
	PairMax     int           // COFFER_AUTH_LOGIN_PAIR_ATTEMPTS, default 10: failed logins per username from one address per window
	AccountMax  int           // COFFER_AUTH_LOGIN_ACCOUNT_ATTEMPTS, default 50: failed logins per username from all addresses per window
	AddressMax  int           // COFFER_AUTH_LOGIN_ADDRESS_ATTEMPTS, default 100: failed logins per client address per window
	Proxies     []string      // COFFER_AUTH_TRUSTED_PROXIES, default none: comma-separated CIDRs whose X-Forwarded-For is believed
	HashWorkers int           // COFFER_AUTH_HASH_CONCURRENCY, default GOMAXPROCS
	Migrate     bool          // COFFER_AUTH_MIGRATE, default true: apply migrations at start
	DrainDelay  time.Duration // COFFER_AUTH_DRAIN_DELAY, default 0
	LogLevel    slog.Level    // COFFER_AUTH_LOG_LEVEL, default info
	MetricsAddr string        // COFFER_AUTH_METRICS_ADDR, default "" (off): where /metrics is served; never the public port
	// COFFER_AUTH_AUDIT_RETENTION, default 0 (keep for ever): audit records older than this
	// are pruned hourly (never younger than a day, whatever the setting).
	AuditRetention time.Duration

	// Identity holds the second-factor, upstream-provider and invitation settings (identity.go).
	Identity identityConfig
}

func loadConfig(getenv func(string) string, needKEK bool) (config, error) {
	r := envconf.New(getenv)
	def := auth.DefaultConfig()
	c := config{
		Addr:           r.String("COFFER_AUTH_ADDR", ":8081"),
		DatabaseURL:    r.String("COFFER_AUTH_DATABASE_URL", getenv("DATABASE_URL")),
		Audience:       r.String("COFFER_AUTH_AUDIENCE", accesstoken.DefaultAudience),
		AccessTTL:      r.Duration("COFFER_AUTH_ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTTL:     r.Duration("COFFER_AUTH_REFRESH_TOKEN_TTL", def.RefreshTTL),
		RefreshIdle:    r.Duration("COFFER_AUTH_REFRESH_TOKEN_IDLE_TTL", def.RefreshIdleTTL),
		ReuseWindow:    r.Duration("COFFER_AUTH_REFRESH_REUSE_INTERVAL", def.RefreshReuseInterval),
		SessionTTL:     r.Duration("COFFER_AUTH_SESSION_TTL", def.SessionTTL),
		Signup:         r.Bool("COFFER_AUTH_SIGNUP", def.SignupEnabled),
		KeyBits:        r.Int("COFFER_AUTH_KEY_BITS", keys.DefaultBits),
		KeyReload:      r.Duration("COFFER_AUTH_KEY_RELOAD", 30*time.Second),
		JWKSMaxAge:     r.Duration("COFFER_AUTH_JWKS_MAX_AGE", api.DefaultJWKSMaxAge),
		KeyRotation:    r.Duration("COFFER_AUTH_KEY_ROTATION", 30*24*time.Hour),
		KeyLeeway:      r.Duration("COFFER_AUTH_KEY_LEEWAY", 5*time.Minute),
		LoginWindow:    r.Duration("COFFER_AUTH_LOGIN_WINDOW", def.LoginWindow),
		PairMax:        r.Int("COFFER_AUTH_LOGIN_PAIR_ATTEMPTS", def.PairAttempts),
		AccountMax:     r.Int("COFFER_AUTH_LOGIN_ACCOUNT_ATTEMPTS", def.AccountAttempts),
		AddressMax:     r.Int("COFFER_AUTH_LOGIN_ADDRESS_ATTEMPTS", def.AddressAttempts),
		Proxies:        strings.FieldsFunc(r.String("COFFER_AUTH_TRUSTED_PROXIES", ""), func(r rune) bool { return r == ',' || r == ' ' }),
		HashWorkers:    r.Int("COFFER_AUTH_HASH_CONCURRENCY", runtime.GOMAXPROCS(0)),
		Migrate:        r.Bool("COFFER_AUTH_MIGRATE", true),
		DrainDelay:     r.Duration("COFFER_AUTH_DRAIN_DELAY", 0),
		MetricsAddr:    r.String("COFFER_AUTH_METRICS_ADDR", ""),
		AuditRetention: r.Duration("COFFER_AUTH_AUDIT_RETENTION", 0),
	}
	if c.AuditRetention != 0 && c.AuditRetention < 24*time.Hour {
		r.Fail("COFFER_AUTH_AUDIT_RETENTION", "must be 0 (keep for ever) or at least 24h")
	}
	c.Identity = loadIdentityConfig(r)
	if c.DatabaseURL == "" {
		r.Fail("COFFER_AUTH_DATABASE_URL", "required (or DATABASE_URL)")
	}
	_, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		r.Fail("COFFER_AUTH_ADDR", "%q is not host:port", c.Addr)
	}
	c.Issuer = accesstoken.NormalizeIssuer(r.String("COFFER_AUTH_ISSUER", "http://localhost:"+port))
	if !strings.HasPrefix(c.Issuer, "https://") && !strings.HasPrefix(c.Issuer, "http://") {
		r.Fail("COFFER_AUTH_ISSUER", "%q must be an http(s) URL", c.Issuer)
	}
	// Seconds are allowed so tests can watch tokens and keys expire; use minutes in production.
	if c.AccessTTL < time.Second || c.AccessTTL > 24*time.Hour {
		r.Fail("COFFER_AUTH_ACCESS_TOKEN_TTL", "must be between 1s and 24h")
	}
	if c.RefreshTTL < time.Minute {
		r.Fail("COFFER_AUTH_REFRESH_TOKEN_TTL", "must be at least 1m")
	}
	if c.RefreshIdle < time.Minute {
		r.Fail("COFFER_AUTH_REFRESH_TOKEN_IDLE_TTL", "must be at least 1m")
	}
	if c.ReuseWindow < 0 || c.ReuseWindow > time.Minute {
		r.Fail("COFFER_AUTH_REFRESH_REUSE_INTERVAL", "must be between 0 (off) and 1m")
	}
	if c.SessionTTL < time.Second || c.SessionTTL > 24*time.Hour {
		r.Fail("COFFER_AUTH_SESSION_TTL", "must be between 1s and 24h")
	}
	if c.KeyRotation != 0 && c.KeyRotation < time.Second {
		r.Fail("COFFER_AUTH_KEY_ROTATION", "must be 0 (off) or at least 1s")
	}
	if c.JWKSMaxAge < time.Second {
		r.Fail("COFFER_AUTH_JWKS_MAX_AGE", "must be at least 1s")
	}
	if c.LoginWindow < time.Second {
		r.Fail("COFFER_AUTH_LOGIN_WINDOW", "must be at least 1s")
	}
	if c.PairMax < 1 {
		r.Fail("COFFER_AUTH_LOGIN_PAIR_ATTEMPTS", "must be at least 1")
	}
	if c.AccountMax < 1 {
		r.Fail("COFFER_AUTH_LOGIN_ACCOUNT_ATTEMPTS", "must be at least 1")
	}
	if c.AddressMax < 1 {
		r.Fail("COFFER_AUTH_LOGIN_ADDRESS_ATTEMPTS", "must be at least 1")
	}
	for _, p := range c.Proxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			r.Fail("COFFER_AUTH_TRUSTED_PROXIES", "%q is not an IP address or CIDR", p)
		}
	}
	if c.KeyReload <= 0 {
		r.Fail("COFFER_AUTH_KEY_RELOAD", "must be positive")
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.String("COFFER_AUTH_LOG_LEVEL", "info"))); err != nil {
		r.Fail("COFFER_AUTH_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if needKEK {
		c.KEK = readKEK(r)
	}
	return c, r.Err()
}

// readKEK reads the key-encryption key from COFFER_AUTH_KEK or the file COFFER_AUTH_KEK_FILE
// (a mounted Kubernetes Secret). The value is never echoed in errors.
func readKEK(r *envconf.Reader) []byte {
	v := r.Secret("COFFER_AUTH_KEK", os.ReadFile)
	if v == "" {
		r.Fail("COFFER_AUTH_KEK", "required (32 random bytes, base64; for example: openssl rand -base64 32), or COFFER_AUTH_KEK_FILE")
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == 32 {
			return b
		}
	}
	r.Fail("COFFER_AUTH_KEK", "must be 32 bytes, base64-encoded")
	return nil
}
