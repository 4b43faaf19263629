package main

import (
	"net/url"
	"time"

	"github.com/cofferhq/coffer/pkg/envconf"
	"github.com/cofferhq/coffer/services/files/internal/queue"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

// eventsConfig holds the settings of events, webhooks, the pre-create hook and scanning.
type eventsConfig struct {
	AllowLocal     bool          // COFFER_FILES_OUTBOUND_ALLOW_LOCAL, default false: let webhooks and the hook reach loopback and link-local addresses
	QueueWorkers   int           // COFFER_FILES_QUEUE_WORKERS, default 10: webhook deliveries a node runs at once (scans: a quarter)
	RescueAfter    time.Duration // COFFER_FILES_QUEUE_RESCUE_AFTER, default 1h: a job left running by a dead node runs again after this
	WebhookTimeout time.Duration // COFFER_FILES_WEBHOOK_TIMEOUT, default 10s
	RetryBase      time.Duration // COFFER_FILES_WEBHOOK_RETRY_BASE, default 10s: first retry delay, doubled each time
	RetryMax       time.Duration // COFFER_FILES_WEBHOOK_RETRY_MAX, default 1h: longest retry delay
	RetryFor       time.Duration // COFFER_FILES_WEBHOOK_RETRY_FOR, default 25h: a delivery is retried at least this long
	ClamdAddr      string        // COFFER_FILES_CLAMD_ADDR, default "" (no scanning): unix:/path, /path or host:port of clamd
	ScanTimeout    time.Duration // COFFER_FILES_SCAN_TIMEOUT, default 30m: bounds one scan
	ScanRetryMax   time.Duration // COFFER_FILES_SCAN_RETRY_MAX, default 1m: longest wait between scan attempts while clamd is down
	HookURL        string        // COFFER_FILES_HOOK_PRE_CREATE_URL, default "" (none)
	HookTimeout    time.Duration // COFFER_FILES_HOOK_PRE_CREATE_TIMEOUT, default 5s
	HookFailOpen   bool          // COFFER_FILES_HOOK_PRE_CREATE_FAIL_OPEN, default false: a hook that times out or fails refuses
	HookSecret     string        // COFFER_FILES_HOOK_SECRET or _FILE: whsec_ secret signing hook calls; required with a hook URL
}

func readEventsConfig(r *envconf.Reader, readFile func(string) ([]byte, error)) eventsConfig {
	def := queue.DefaultConfig()
	c := eventsConfig{
		AllowLocal:     r.Bool("COFFER_FILES_OUTBOUND_ALLOW_LOCAL", false),
		QueueWorkers:   r.Int("COFFER_FILES_QUEUE_WORKERS", def.Workers),
		RescueAfter:    r.Duration("COFFER_FILES_QUEUE_RESCUE_AFTER", def.RescueAfter),
		WebhookTimeout: r.Duration("COFFER_FILES_WEBHOOK_TIMEOUT", def.DeliveryTimeout),
		RetryBase:      r.Duration("COFFER_FILES_WEBHOOK_RETRY_BASE", def.RetryBase),
		RetryMax:       r.Duration("COFFER_FILES_WEBHOOK_RETRY_MAX", def.RetryMax),
		RetryFor:       r.Duration("COFFER_FILES_WEBHOOK_RETRY_FOR", def.RetryFor),
		ClamdAddr:      r.String("COFFER_FILES_CLAMD_ADDR", ""),
		ScanTimeout:    r.Duration("COFFER_FILES_SCAN_TIMEOUT", def.ScanTimeout),
		ScanRetryMax:   r.Duration("COFFER_FILES_SCAN_RETRY_MAX", def.ScanRetryMax),
		HookURL:        r.String("COFFER_FILES_HOOK_PRE_CREATE_URL", ""),
		HookTimeout:    r.Duration("COFFER_FILES_HOOK_PRE_CREATE_TIMEOUT", 5*time.Second),
		HookFailOpen:   r.Bool("COFFER_FILES_HOOK_PRE_CREATE_FAIL_OPEN", false),
		HookSecret:     r.Secret("COFFER_FILES_HOOK_SECRET", readFile),
	}
	if c.QueueWorkers < 1 || c.QueueWorkers > 1000 {
		r.Fail("COFFER_FILES_QUEUE_WORKERS", "between 1 and 1000")
	}
	if c.WebhookTimeout < 100*time.Millisecond || c.WebhookTimeout > 5*time.Minute {
		r.Fail("COFFER_FILES_WEBHOOK_TIMEOUT", "between 100ms and 5m")
	}
	if c.RescueAfter < 2*(c.WebhookTimeout+5*time.Second) {
		r.Fail("COFFER_FILES_QUEUE_RESCUE_AFTER", "at least twice COFFER_FILES_WEBHOOK_TIMEOUT plus 10s")
	}
	if c.RetryBase < 100*time.Millisecond {
		r.Fail("COFFER_FILES_WEBHOOK_RETRY_BASE", "at least 100ms")
	}
	if c.RetryMax < c.RetryBase {
		r.Fail("COFFER_FILES_WEBHOOK_RETRY_MAX", "at least COFFER_FILES_WEBHOOK_RETRY_BASE")
	}
	if c.RetryFor < time.Minute {
		r.Fail("COFFER_FILES_WEBHOOK_RETRY_FOR", "at least 1m")
	}
	if c.ScanTimeout < time.Second {
		r.Fail("COFFER_FILES_SCAN_TIMEOUT", "at least 1s")
	}
	if c.ScanRetryMax < 100*time.Millisecond {
		r.Fail("COFFER_FILES_SCAN_RETRY_MAX", "at least 100ms")
	}
	if c.HookURL != "" {
		if u, err := url.Parse(c.HookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail("COFFER_FILES_HOOK_PRE_CREATE_URL", "%q is not an http(s) URL", c.HookURL)
		}
		if _, err := webhook.SecretKey(c.HookSecret); err != nil {
			r.Fail("COFFER_FILES_HOOK_SECRET", "required with COFFER_FILES_HOOK_PRE_CREATE_URL: whsec_ and base64 of at least 24 random bytes")
		}
	}
	if c.HookTimeout < 100*time.Millisecond || c.HookTimeout > time.Minute {
		r.Fail("COFFER_FILES_HOOK_PRE_CREATE_TIMEOUT", "between 100ms and 1m")
	}
	return c
}

func (c eventsConfig) queue() queue.Config {
	return queue.Config{
		Workers: c.QueueWorkers, DeliveryTimeout: c.WebhookTimeout,
		RetryBase: c.RetryBase, RetryMax: c.RetryMax, RetryFor: c.RetryFor,
		ScanRetryMax: c.ScanRetryMax, ScanTimeout: c.ScanTimeout, RescueAfter: c.RescueAfter,
	}
}
