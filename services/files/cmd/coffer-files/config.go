package main

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/cofferhq/coffer/pkg/envconf"
)

// config is every setting of the file service, read from the environment.
type config struct {
	Addr            string        // COFFER_FILES_ADDR, default ":8082"
	DatabaseURL     string        // COFFER_FILES_DATABASE_URL, falling back to DATABASE_URL; required
	AuthURL         string        // COFFER_FILES_AUTH_URL, default "http://localhost:8081": base of the JWKS URL
	JWKSURL         string        // COFFER_FILES_JWKS_URL, default AuthURL + "/.well-known/jwks.json"
	Issuer          string        // COFFER_FILES_ISSUER, default AuthURL: the required iss
	Audience        string        // COFFER_FILES_AUDIENCE, default "coffer-files": the required aud
	JWKSRefresh     time.Duration // COFFER_FILES_JWKS_REFRESH, default 5m
	Leeway          time.Duration // COFFER_FILES_CLOCK_LEEWAY, default 30s
	DataDir         string        // COFFER_FILES_DATA_DIR, default "./data"
	MaxFileSize     int64         // COFFER_FILES_MAX_FILE_SIZE, default 5G (suffixes K, M, G, T)
	Migrate         bool          // COFFER_FILES_MIGRATE, default true
	DrainDelay      time.Duration // COFFER_FILES_DRAIN_DELAY, default 0
	ShutdownTimeout time.Duration // COFFER_FILES_SHUTDOWN_TIMEOUT, default 30s
	LogLevel        slog.Level    // COFFER_FILES_LOG_LEVEL, default info
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		Addr:            r.String("COFFER_FILES_ADDR", ":8082"),
		DatabaseURL:     r.String("COFFER_FILES_DATABASE_URL", getenv("DATABASE_URL")),
		AuthURL:         strings.TrimSuffix(r.String("COFFER_FILES_AUTH_URL", "http://localhost:8081"), "/"),
		Audience:        r.String("COFFER_FILES_AUDIENCE", "coffer-files"),
		JWKSRefresh:     r.Duration("COFFER_FILES_JWKS_REFRESH", 5*time.Minute),
		Leeway:          r.Duration("COFFER_FILES_CLOCK_LEEWAY", 30*time.Second),
		DataDir:         r.String("COFFER_FILES_DATA_DIR", "./data"),
		MaxFileSize:     r.Int64("COFFER_FILES_MAX_FILE_SIZE", 5<<30),
		Migrate:         r.Bool("COFFER_FILES_MIGRATE", true),
		DrainDelay:      r.Duration("COFFER_FILES_DRAIN_DELAY", 0),
		ShutdownTimeout: r.Duration("COFFER_FILES_SHUTDOWN_TIMEOUT", 30*time.Second),
	}
	c.JWKSURL = r.String("COFFER_FILES_JWKS_URL", c.AuthURL+"/.well-known/jwks.json")
	c.Issuer = r.String("COFFER_FILES_ISSUER", c.AuthURL)
	if c.DatabaseURL == "" {
		r.Fail("COFFER_FILES_DATABASE_URL", "required (or DATABASE_URL)")
	}
	if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Fail("COFFER_FILES_JWKS_URL", "%q is not an http(s) URL", c.JWKSURL)
	}
	if c.MaxFileSize <= 0 {
		r.Fail("COFFER_FILES_MAX_FILE_SIZE", "must be positive")
	}
	if c.Leeway > 5*time.Minute {
		r.Fail("COFFER_FILES_CLOCK_LEEWAY", "at most 5m")
	}
	if c.JWKSRefresh < time.Second {
		r.Fail("COFFER_FILES_JWKS_REFRESH", "at least 1s")
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.String("COFFER_FILES_LOG_LEVEL", "info"))); err != nil {
		r.Fail("COFFER_FILES_LOG_LEVEL", "must be debug, info, warn or error")
	}
	return c, r.Err()
}
