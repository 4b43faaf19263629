package main

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/cofferhq/coffer/pkg/envconf"
)

// config is every setting of the web service, read from the environment.
type config struct {
	Addr            string        // COFFER_WEB_ADDR, default ":8083"
	AuthURL         string        // COFFER_WEB_AUTH_URL, default "http://localhost:8081": the auth service as the browser reaches it
	FilesURL        string        // COFFER_WEB_FILES_URL, default "http://localhost:8082": the file service as the browser reaches it
	ClientID        string        // COFFER_WEB_CLIENT_ID, default "coffer-web": the public OAuth client registered for this page
	Scope           string        // COFFER_WEB_SCOPE, default "files:read files:write files:share"
	DrainDelay      time.Duration // COFFER_WEB_DRAIN_DELAY, default 0
	ShutdownTimeout time.Duration // COFFER_WEB_SHUTDOWN_TIMEOUT, default 10s
	LogLevel        slog.Level    // COFFER_WEB_LOG_LEVEL, default info
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		Addr:            r.String("COFFER_WEB_ADDR", ":8083"),
		AuthURL:         strings.TrimSuffix(r.String("COFFER_WEB_AUTH_URL", "http://localhost:8081"), "/"),
		FilesURL:        strings.TrimSuffix(r.String("COFFER_WEB_FILES_URL", "http://localhost:8082"), "/"),
		ClientID:        r.String("COFFER_WEB_CLIENT_ID", "coffer-web"),
		Scope:           r.String("COFFER_WEB_SCOPE", "files:read files:write files:share"),
		DrainDelay:      r.Duration("COFFER_WEB_DRAIN_DELAY", 0),
		ShutdownTimeout: r.Duration("COFFER_WEB_SHUTDOWN_TIMEOUT", 10*time.Second),
	}
	for name, v := range map[string]string{"COFFER_WEB_AUTH_URL": c.AuthURL, "COFFER_WEB_FILES_URL": c.FilesURL} {
		// The page's Content-Security-Policy names these origins, so they must be plain
		// http(s) URLs without anything a header could be bent by.
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(v, " ;,'\"") {
			r.Fail(name, "%q is not an http(s) URL", v)
		}
	}
	if strings.ContainsAny(c.ClientID, " \"\\") || len(c.ClientID) > 128 {
		r.Fail("COFFER_WEB_CLIENT_ID", "must be a client id without spaces or quotes, at most 128 bytes")
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.String("COFFER_WEB_LOG_LEVEL", "info"))); err != nil {
		r.Fail("COFFER_WEB_LOG_LEVEL", "must be debug, info, warn or error")
	}
	return c, r.Err()
}
