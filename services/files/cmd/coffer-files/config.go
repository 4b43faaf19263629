package main

import (
	"encoding/base64"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/pkg/envconf"
	"github.com/cofferhq/coffer/pkg/serve"
	"github.com/cofferhq/coffer/services/files/internal/accesscache"
	"github.com/cofferhq/coffer/services/files/internal/api"
	"github.com/cofferhq/coffer/services/files/internal/authclient"
	"github.com/cofferhq/coffer/services/files/internal/blobcache"
	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/gc"
	"github.com/cofferhq/coffer/services/files/internal/linktoken"
	"github.com/cofferhq/coffer/services/files/internal/postgres"
	"github.com/cofferhq/coffer/services/files/internal/s3"
	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

// config is every setting of the file service, read from the environment.
type config struct {
	Addr             string        // COFFER_FILES_ADDR, default ":8082"
	DatabaseURL      string        // COFFER_FILES_DATABASE_URL, falling back to DATABASE_URL; required
	DirectURL        string        // COFFER_FILES_DATABASE_DIRECT_URL, default DatabaseURL: the primary without a transaction pooler, for migrations, locks and LISTEN
	ReplicaURLs      []string      // COFFER_FILES_DATABASE_REPLICA_URLS, default none: comma-separated read replicas of the primary
	UploadLock       string        // COFFER_FILES_UPLOAD_LOCK, default "lease": how nodes lock a resumable upload, "lease" (no session held) or "advisory" (a session per PATCH, as before)
	UploadLease      time.Duration // COFFER_FILES_UPLOAD_LEASE, default 10s: an upload lease's lifetime unrenewed, so how soon a node killed mid-PATCH lets go
	AccessCache      bool          // COFFER_FILES_ACCESS_CACHE, default false: keep granted file rows in memory, exact through revocation notices (every node must set the same)
	AccessCacheSize  int           // COFFER_FILES_ACCESS_CACHE_SIZE, default accesscache.DefaultConfig().Size: the most (file, user) grants held
	AccessCacheTTL   time.Duration // COFFER_FILES_ACCESS_CACHE_TTL, default accesscache.DefaultConfig().TTL: how long a grant is used before the database is asked again
	BlobCache        int64         // COFFER_FILES_BLOB_CACHE, default blobcache.DefaultConfig().Budget: bytes of small blobs kept in memory (0: none)
	FenceLease       time.Duration // COFFER_FILES_FENCE_LEASE, default 2s: how long a node trusts replicas without hearing its notice subscription, and the longest a revocation waits for a silent node
	AuthURL          string        // COFFER_FILES_AUTH_URL, default "http://localhost:8081": base of the JWKS URL and of user lookups (sharing by username)
	AuthTimeout      time.Duration // COFFER_FILES_AUTH_TIMEOUT, default 5s: bounds one user lookup at the auth service
	JWKSURL          string        // COFFER_FILES_JWKS_URL, default AuthURL + "/.well-known/jwks.json"
	Issuer           string        // COFFER_FILES_ISSUER, default AuthURL: the required iss
	Audience         string        // COFFER_FILES_AUDIENCE, default "coffer-files": the required aud
	JWKSRefresh      time.Duration // COFFER_FILES_JWKS_REFRESH, default 5m
	Leeway           time.Duration // COFFER_FILES_CLOCK_LEEWAY, default 30s
	DataDir          string        // COFFER_FILES_DATA_DIR, default "./data"
	MaxFileSize      int64         // COFFER_FILES_MAX_FILE_SIZE, default 5G (suffixes K, M, G, T)
	UserQuota        int64         // COFFER_FILES_USER_QUOTA, default 0 (unlimited): bytes each user may store
	LinkKey          []byte        // COFFER_FILES_LINK_KEY (base64, >= 32 bytes) or COFFER_FILES_LINK_KEY_FILE; unset disables signed links
	LinkMaxTTL       time.Duration // COFFER_FILES_LINK_MAX_TTL, default 168h: the longest expires_in
	UploadIdle       time.Duration // COFFER_FILES_UPLOAD_IDLE_TIMEOUT, default 1m: an upload body silent this long is cut off
	UploadExpiry     time.Duration // COFFER_FILES_UPLOAD_EXPIRY, default 24h: an unfinished resumable upload is removed this long after its creation
	PublicURL        string        // COFFER_FILES_PUBLIC_URL, default "": base of link URLs (relative when empty)
	WebURL           string        // COFFER_FILES_WEB_URL, default "": the web page's base; links and file requests then carry a page_url for people
	DefaultRetention time.Duration // COFFER_FILES_DEFAULT_RETENTION, default 0 (off): how long a new file is kept unless its upload says otherwise
	Migrate          bool          // COFFER_FILES_MIGRATE, default true
	DrainDelay       time.Duration // COFFER_FILES_DRAIN_DELAY, default 0
	ShutdownTimeout  time.Duration // COFFER_FILES_SHUTDOWN_TIMEOUT, default 30s
	LogLevel         slog.Level    // COFFER_FILES_LOG_LEVEL, default info
	MetricsAddr      string        // COFFER_FILES_METRICS_ADDR, default "" (off): where /metrics is served; never the public port
	Audit            bool          // COFFER_FILES_AUDIT, default true: record uploads, downloads, shares, links and deletions
	AuditRetention   time.Duration // COFFER_FILES_AUDIT_RETENTION, default 0 (keep for ever); at least 24h
	PprofAddr        string        // COFFER_FILES_PPROF_ADDR, default "" (off): a separate listener for net/http/pprof, e.g. 127.0.0.1:6060; never expose it
	CORSOrigins      []string      // COFFER_FILES_CORS_ORIGINS, default none: comma-separated browser origins (the web app) allowed to call the API

	Storage string   // COFFER_FILES_STORAGE, default "disk": where blobs live, "disk" (DataDir) or "s3"
	S3      s3Config // COFFER_FILES_S3_*, used when Storage is "s3"

	GCInterval      time.Duration // COFFER_FILES_GC_INTERVAL, default 1h; 0 turns the periodic collector off
	GCGrace         time.Duration // COFFER_FILES_GC_GRACE, default 1h: unreferenced blobs younger than this are kept
	GCIncompleteAge time.Duration // COFFER_FILES_GC_INCOMPLETE_AGE, default 24h: interrupted writes older than this are swept

	Events    eventsConfig  // events_config.go
	BlobGrace time.Duration // COFFER_FILES_BLOB_GRACE, default 168h: a deleted file's blob is kept this long, so a restored database finds its bytes
}

// s3Config locates the bucket of the S3 blob store.
type s3Config struct {
	Endpoint  string // COFFER_FILES_S3_ENDPOINT, default "" (AWS); e.g. http://minio:9000
	Bucket    string // COFFER_FILES_S3_BUCKET, required with s3
	Region    string // COFFER_FILES_S3_REGION, default "us-east-1"
	Prefix    string // COFFER_FILES_S3_PREFIX, default "": put before every key
	AccessKey string // COFFER_FILES_S3_ACCESS_KEY or the file named by COFFER_FILES_S3_ACCESS_KEY_FILE; both keys unset: the AWS default credential chain
	SecretKey string // COFFER_FILES_S3_SECRET_KEY or the file named by COFFER_FILES_S3_SECRET_KEY_FILE
	SSE       string // COFFER_FILES_S3_SSE, default "" (none): server-side encryption, AES256 or aws:kms
	KMSKeyID  string // COFFER_FILES_S3_SSE_KMS_KEY_ID, default "": the KMS key for aws:kms (empty: the account's S3 key)
	PartSize  int64  // COFFER_FILES_S3_PART_SIZE, default 5M: multipart part size (memory per upload is about 3 parts)
	Redirect  bool   // COFFER_FILES_S3_REDIRECT, default false: authorized downloads are a 307 to a presigned URL
}

func loadConfig(getenv func(string) string, readFile func(string) ([]byte, error)) (config, error) {
	r := envconf.New(getenv)
	c := config{
		Addr:             r.String("COFFER_FILES_ADDR", ":8082"),
		DatabaseURL:      r.String("COFFER_FILES_DATABASE_URL", getenv("DATABASE_URL")),
		AuthURL:          strings.TrimSuffix(r.String("COFFER_FILES_AUTH_URL", "http://localhost:8081"), "/"),
		Audience:         r.String("COFFER_FILES_AUDIENCE", accesstoken.DefaultAudience),
		JWKSRefresh:      r.Duration("COFFER_FILES_JWKS_REFRESH", tokenauth.DefaultRefreshInterval),
		Leeway:           r.Duration("COFFER_FILES_CLOCK_LEEWAY", accesstoken.DefaultLeeway),
		AuthTimeout:      r.Duration("COFFER_FILES_AUTH_TIMEOUT", authclient.DefaultTimeout),
		DataDir:          r.String("COFFER_FILES_DATA_DIR", "./data"),
		MaxFileSize:      r.Int64("COFFER_FILES_MAX_FILE_SIZE", files.DefaultConfig().MaxFileSize),
		UserQuota:        r.Int64("COFFER_FILES_USER_QUOTA", 0),
		LinkMaxTTL:       r.Duration("COFFER_FILES_LINK_MAX_TTL", files.DefaultLinkConfig().MaxTTL),
		UploadIdle:       r.Duration("COFFER_FILES_UPLOAD_IDLE_TIMEOUT", api.DefaultOptions().UploadIdleTimeout),
		UploadExpiry:     r.Duration("COFFER_FILES_UPLOAD_EXPIRY", files.DefaultConfig().UploadExpiry),
		PublicURL:        strings.TrimSuffix(r.String("COFFER_FILES_PUBLIC_URL", ""), "/"),
		WebURL:           strings.TrimSuffix(r.String("COFFER_FILES_WEB_URL", ""), "/"),
		DefaultRetention: r.Duration("COFFER_FILES_DEFAULT_RETENTION", files.DefaultConfig().DefaultRetention),
		Migrate:          r.Bool("COFFER_FILES_MIGRATE", true),
		DrainDelay:       r.Duration("COFFER_FILES_DRAIN_DELAY", 0),
		ShutdownTimeout:  r.Duration("COFFER_FILES_SHUTDOWN_TIMEOUT", serve.DefaultShutdownTimeout),
		PprofAddr:        r.String("COFFER_FILES_PPROF_ADDR", ""),
	}
	c.Storage = r.String("COFFER_FILES_STORAGE", "disk")
	gcDefaults := gc.DefaultConfig()
	c.GCInterval = r.Duration("COFFER_FILES_GC_INTERVAL", gcDefaults.Interval)
	c.GCGrace = r.Duration("COFFER_FILES_GC_GRACE", gcDefaults.Grace)
	c.GCIncompleteAge = r.Duration("COFFER_FILES_GC_INCOMPLETE_AGE", gcDefaults.IncompleteAge)
	c.BlobGrace = r.Duration("COFFER_FILES_BLOB_GRACE", files.DefaultConfig().BlobGrace)
	if c.BlobGrace < 0 {
		r.Fail("COFFER_FILES_BLOB_GRACE", "must not be negative")
	}
	switch c.Storage {
	case "disk":
		if r.Bool("COFFER_FILES_S3_REDIRECT", false) {
			r.Fail("COFFER_FILES_S3_REDIRECT", "needs COFFER_FILES_STORAGE=s3 (a disk node serves its own bytes)")
		}
	case "s3":
		c.S3 = s3Config{
			Endpoint:  strings.TrimSuffix(r.String("COFFER_FILES_S3_ENDPOINT", ""), "/"),
			Bucket:    r.String("COFFER_FILES_S3_BUCKET", ""),
			Region:    r.String("COFFER_FILES_S3_REGION", "us-east-1"),
			Prefix:    r.String("COFFER_FILES_S3_PREFIX", ""),
			AccessKey: r.Secret("COFFER_FILES_S3_ACCESS_KEY", readFile),
			SecretKey: r.Secret("COFFER_FILES_S3_SECRET_KEY", readFile),
			PartSize:  r.Int64("COFFER_FILES_S3_PART_SIZE", s3.MinPartSize),
			SSE:       r.String("COFFER_FILES_S3_SSE", ""),
			KMSKeyID:  r.String("COFFER_FILES_S3_SSE_KMS_KEY_ID", ""),
			Redirect:  r.Bool("COFFER_FILES_S3_REDIRECT", false),
		}
		if c.S3.Bucket == "" {
			r.Fail("COFFER_FILES_S3_BUCKET", "required when COFFER_FILES_STORAGE=s3")
		}
		// Both keys or neither: without them the AWS default credential chain is used.
		if c.S3.AccessKey == "" && c.S3.SecretKey != "" {
			r.Fail("COFFER_FILES_S3_ACCESS_KEY", "required with COFFER_FILES_S3_SECRET_KEY (or unset both for the AWS default credential chain)")
		}
		if c.S3.SecretKey == "" && c.S3.AccessKey != "" {
			r.Fail("COFFER_FILES_S3_SECRET_KEY", "required with COFFER_FILES_S3_ACCESS_KEY (or unset both for the AWS default credential chain)")
		}
		switch {
		case c.S3.SSE != "" && c.S3.SSE != "AES256" && c.S3.SSE != "aws:kms":
			r.Fail("COFFER_FILES_S3_SSE", "%q is not AES256 or aws:kms", c.S3.SSE)
		case c.S3.KMSKeyID != "" && c.S3.SSE != "aws:kms":
			r.Fail("COFFER_FILES_S3_SSE_KMS_KEY_ID", "needs COFFER_FILES_S3_SSE=aws:kms")
		}
		if c.S3.Endpoint != "" {
			if u, err := url.Parse(c.S3.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				r.Fail("COFFER_FILES_S3_ENDPOINT", "%q is not an http(s) URL", c.S3.Endpoint)
			}
		}
		if c.S3.PartSize < s3.MinPartSize || c.S3.PartSize > 5<<30 {
			r.Fail("COFFER_FILES_S3_PART_SIZE", "must be between 5M and 5G")
		}
	default:
		r.Fail("COFFER_FILES_STORAGE", "%q is not disk or s3", c.Storage)
	}
	c.DirectURL = r.String("COFFER_FILES_DATABASE_DIRECT_URL", c.DatabaseURL)
	for _, u := range strings.Split(r.String("COFFER_FILES_DATABASE_REPLICA_URLS", ""), ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.ReplicaURLs = append(c.ReplicaURLs, u)
		}
	}
	c.UploadLock = r.String("COFFER_FILES_UPLOAD_LOCK", "lease")
	if c.UploadLock != "lease" && c.UploadLock != "advisory" {
		r.Fail("COFFER_FILES_UPLOAD_LOCK", "%q is not lease or advisory", c.UploadLock)
	}
	c.UploadLease = r.Duration("COFFER_FILES_UPLOAD_LEASE", postgres.DefaultLeaseTTL)
	if c.UploadLease < 300*time.Millisecond || c.UploadLease > 10*time.Minute {
		r.Fail("COFFER_FILES_UPLOAD_LEASE", "between 300ms and 10m")
	}
	c.AccessCache = r.Bool("COFFER_FILES_ACCESS_CACHE", false)
	c.AccessCacheSize = r.Int("COFFER_FILES_ACCESS_CACHE_SIZE", accesscache.DefaultConfig().Size)
	if c.AccessCacheSize < 1 {
		r.Fail("COFFER_FILES_ACCESS_CACHE_SIZE", "at least 1")
	}
	c.AccessCacheTTL = r.Duration("COFFER_FILES_ACCESS_CACHE_TTL", accesscache.DefaultConfig().TTL)
	if c.AccessCacheTTL < time.Second || c.AccessCacheTTL > time.Hour {
		r.Fail("COFFER_FILES_ACCESS_CACHE_TTL", "between 1s and 1h")
	}
	c.BlobCache = r.Int64("COFFER_FILES_BLOB_CACHE", blobcache.DefaultConfig().Budget)
	if c.BlobCache < 0 {
		r.Fail("COFFER_FILES_BLOB_CACHE", "0 (none) or more bytes")
	}
	c.FenceLease = r.Duration("COFFER_FILES_FENCE_LEASE", fence.DefaultLease)
	if c.FenceLease < 100*time.Millisecond || c.FenceLease > time.Minute {
		r.Fail("COFFER_FILES_FENCE_LEASE", "between 100ms and 1m")
	}
	c.JWKSURL = r.String("COFFER_FILES_JWKS_URL", c.AuthURL+"/.well-known/jwks.json")
	// Normalised as the auth service normalises its own: a trailing slash on either side
	// must not make every token fail the iss check.
	c.Issuer = accesstoken.NormalizeIssuer(r.String("COFFER_FILES_ISSUER", c.AuthURL))
	if c.DatabaseURL == "" {
		r.Fail("COFFER_FILES_DATABASE_URL", "required (or DATABASE_URL)")
	}
	if u, err := url.Parse(c.AuthURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Fail("COFFER_FILES_AUTH_URL", "%q is not an http(s) URL", c.AuthURL)
	}
	if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Fail("COFFER_FILES_JWKS_URL", "%q is not an http(s) URL", c.JWKSURL)
	}
	if c.MaxFileSize <= 0 {
		r.Fail("COFFER_FILES_MAX_FILE_SIZE", "must be positive")
	}
	if c.UploadIdle < 100*time.Millisecond {
		r.Fail("COFFER_FILES_UPLOAD_IDLE_TIMEOUT", "at least 100ms")
	}
	if c.UploadExpiry < time.Second {
		r.Fail("COFFER_FILES_UPLOAD_EXPIRY", "at least 1s")
	}
	if c.UserQuota < 0 {
		r.Fail("COFFER_FILES_USER_QUOTA", "must not be negative")
	}
	c.Events = readEventsConfig(r, readFile)
	c.LinkKey = linkKey(r, readFile)
	c.CORSOrigins = corsOrigins(r)
	if c.DefaultRetention < 0 || c.DefaultRetention > files.MaxRetention {
		r.Fail("COFFER_FILES_DEFAULT_RETENTION", "must be between 0 (off) and %v", files.MaxRetention)
	}
	if c.WebURL != "" {
		if u, err := url.Parse(c.WebURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail("COFFER_FILES_WEB_URL", "%q is not an http(s) URL", c.WebURL)
		}
	}
	if c.LinkMaxTTL < time.Second {
		r.Fail("COFFER_FILES_LINK_MAX_TTL", "at least 1s")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail("COFFER_FILES_PUBLIC_URL", "%q is not an http(s) URL", c.PublicURL)
		}
	}
	if c.AuthTimeout < 100*time.Millisecond || c.AuthTimeout > time.Minute {
		r.Fail("COFFER_FILES_AUTH_TIMEOUT", "between 100ms and 1m")
	}
	if c.Leeway > 5*time.Minute {
		r.Fail("COFFER_FILES_CLOCK_LEEWAY", "at most 5m")
	}
	if c.JWKSRefresh < time.Second {
		r.Fail("COFFER_FILES_JWKS_REFRESH", "at least 1s")
	}
	c.MetricsAddr = r.String("COFFER_FILES_METRICS_ADDR", "")
	c.Audit = r.Bool("COFFER_FILES_AUDIT", true)
	c.AuditRetention = r.Duration("COFFER_FILES_AUDIT_RETENTION", 0)
	if c.AuditRetention != 0 && c.AuditRetention < 24*time.Hour {
		r.Fail("COFFER_FILES_AUDIT_RETENTION", "must be 0 (keep for ever) or at least 24h")
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.String("COFFER_FILES_LOG_LEVEL", "info"))); err != nil {
		r.Fail("COFFER_FILES_LOG_LEVEL", "must be debug, info, warn or error")
	}
	return c, r.Err()
}

// linkKey reads the signed-link key from COFFER_FILES_LINK_KEY or the file named by
// COFFER_FILES_LINK_KEY_FILE (for mounted secrets); both hold base64 of at least 32 bytes.
// Every file node must share it. Unset leaves links disabled.
func linkKey(r *envconf.Reader, readFile func(string) ([]byte, error)) []byte {
	const name = "COFFER_FILES_LINK_KEY"
	val := r.Secret(name, readFile)
	if val == "" {
		return nil
	}
	key, err := base64.StdEncoding.DecodeString(val)
	if err != nil {
		key, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(val, "="))
	}
	if err != nil || len(key) < linktoken.MinKeyBytes {
		r.Fail(name, "must be base64 of at least %d random bytes", linktoken.MinKeyBytes)
		return nil
	}
	return key
}

// corsOrigins reads COFFER_FILES_CORS_ORIGINS: origins such as https://app.example.com,
// compared exactly with a browser's Origin header, so a path, a wildcard or "null" is refused.
func corsOrigins(r *envconf.Reader) []string {
	const name = "COFFER_FILES_CORS_ORIGINS"
	var out []string
	for _, o := range strings.Split(r.String(name, ""), ",") {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(o, "* ") {
			r.Fail(name, "%q is not an origin such as https://app.example.com", o)
			continue
		}
		out = append(out, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return out
}
