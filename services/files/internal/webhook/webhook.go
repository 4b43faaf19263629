// Package webhook tells the systems around Coffer what happened: it keeps the admins' webhook
// subscriptions, signs every request the Standard Webhooks way (webhook-id, webhook-timestamp,
// webhook-signature), sends them through a client that refuses local and metadata addresses
// (SSRF) and follows no redirect, and calls the pre-create hook that may refuse an upload.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Subscription is one webhook: where to send which events, and the secret that signs them.
type Subscription struct {
	ID         uuid.UUID
	URL        string
	Secret     string   // whsec_ + base64 of the key; never shown after creation
	EventTypes []string // empty: every type
	CreatedAt  time.Time
}

// Wants reports whether the subscription takes events of type typ.
func (s Subscription) Wants(typ string) bool {
	return len(s.EventTypes) == 0 || slices.Contains(s.EventTypes, typ)
}

// Store keeps subscriptions.
type Store interface {
	CreateSubscription(ctx context.Context, s Subscription) error
	// Subscriptions returns every subscription, oldest first.
	Subscriptions(ctx context.Context) ([]Subscription, error)
	// DeleteSubscription removes one; files.ErrNotFound if there is none with that id.
	DeleteSubscription(ctx context.Context, id uuid.UUID) error
}

// Delivery is one event's delivery to one subscription, as the job queue holds it.
type Delivery struct {
	ID             int64      `json:"id"`
	EventID        string     `json:"event_id"`
	SubscriptionID string     `json:"subscription_id"`
	State          string     `json:"state"` // river's: retryable (will be tried again), discarded (gave up), ...
	Attempts       int        `json:"attempts"`
	MaxAttempts    int        `json:"max_attempts"`
	LastError      string     `json:"last_error,omitempty"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
}

// Deliveries is the job queue's view of deliveries (package queue).
type Deliveries interface {
	// FailedDeliveries lists deliveries whose last attempt failed, newest first.
	FailedDeliveries(ctx context.Context, limit int) ([]Delivery, error)
	// RetryDelivery makes a failed (or given-up) delivery run again now; files.ErrNotFound
	// if there is no such delivery.
	RetryDelivery(ctx context.Context, id int64) error
}

// Admin manages subscriptions and deliveries: what the admin API and the
// `coffer-files webhooks` command do.
type Admin struct {
	store      Store
	deliveries Deliveries
	guard      Guard
	now        func() time.Time
}

// NewAdmin wires Admin; now defaults to time.Now.
func NewAdmin(store Store, deliveries Deliveries, guard Guard, now func() time.Time) *Admin {
	if now == nil {
		now = time.Now
	}
	return &Admin{store: store, deliveries: deliveries, guard: guard, now: now}
}

// MaxURLBytes bounds a webhook URL.
const MaxURLBytes = 2048

// Create subscribes rawURL to the event types (none: all) and returns the subscription with
// its new secret. The URL must be http(s) and must not lead to a local or metadata address
// unless the guard allows it (files.ErrInvalidInput otherwise).
func (a *Admin) Create(ctx context.Context, rawURL string, types []string) (Subscription, error) {
	if len(rawURL) > MaxURLBytes {
		return Subscription{}, files.Invalid("url longer than %d bytes", MaxURLBytes)
	}
	if err := a.guard.CheckURL(ctx, rawURL); err != nil {
		return Subscription{}, err
	}
	types = slices.Clone(types)
	slices.Sort(types)
	types = slices.Compact(types)
	for _, t := range types {
		if !slices.Contains(files.EventTypes, t) {
			return Subscription{}, files.Invalid("unknown event type %q (known: %s)", t, strings.Join(files.EventTypes, ", "))
		}
	}
	secret, err := NewSecret()
	if err != nil {
		return Subscription{}, err
	}
	s := Subscription{ID: uuid.New(), URL: rawURL, Secret: secret, EventTypes: types, CreatedAt: a.now().UTC().Truncate(time.Microsecond)}
	if s.EventTypes == nil {
		s.EventTypes = []string{}
	}
	if err := a.store.CreateSubscription(ctx, s); err != nil {
		return Subscription{}, err
	}
	return s, nil
}

// List returns the subscriptions without their secrets.
func (a *Admin) List(ctx context.Context) ([]Subscription, error) {
	subs, err := a.store.Subscriptions(ctx)
	for i := range subs {
		subs[i].Secret = ""
	}
	return subs, err
}

// Delete removes a subscription; its pending deliveries are dropped when they next run.
func (a *Admin) Delete(ctx context.Context, id uuid.UUID) error {
	return a.store.DeleteSubscription(ctx, id)
}

// Failed lists failed deliveries.
func (a *Admin) Failed(ctx context.Context, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return a.deliveries.FailedDeliveries(ctx, limit)
}

// Retry runs a failed delivery again now.
func (a *Admin) Retry(ctx context.Context, id int64) error {
	return a.deliveries.RetryDelivery(ctx, id)
}

// Body is the JSON an event is delivered as: {"id", "type", "timestamp", "data"}.
func Body(e files.Event) ([]byte, error) {
	return json.Marshal(struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      files.EventData `json:"data"`
	}{e.ID.String(), e.Type, e.Time.UTC(), e.Data})
}

// ErrRefusedAddress means a URL leads to an address the guard refuses (loopback,
// link-local, metadata, unspecified, multicast).
var ErrRefusedAddress = errors.New("webhook: refused address")

func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, files.Invalid("url must be an absolute http or https URL without user info")
	}
	return u, nil
}

// errStatus is a non-2xx answer from a receiver.
type errStatus struct{ code int }

func (e *errStatus) Error() string { return fmt.Sprintf("webhook: receiver answered %d", e.code) }
