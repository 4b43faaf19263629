package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

var _ webhook.Store = (*DB)(nil)

// CreateSubscription implements webhook.Store.
func (db *DB) CreateSubscription(ctx context.Context, s webhook.Subscription) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO webhook_subscriptions (id, url, secret, event_types, created_at)
		VALUES ($1, $2, $3, $4, $5)`, [16]byte(s.ID), s.URL, s.Secret, s.EventTypes, s.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create subscription: %w", mapErr(err))
	}
	return nil
}

const subscriptionColumns = `id, url, secret, event_types, created_at`

func scanSubscription(r pgx.Row) (webhook.Subscription, error) {
	var s webhook.Subscription
	err := r.Scan((*[16]byte)(&s.ID), &s.URL, &s.Secret, &s.EventTypes, &s.CreatedAt)
	return s, err
}

// Subscriptions implements webhook.Store.
func (db *DB) Subscriptions(ctx context.Context) ([]webhook.Subscription, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: subscriptions: %w", mapErr(err))
	}
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Subscription, error) { return scanSubscription(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: subscriptions: %w", mapErr(err))
	}
	return subs, nil
}

// SubscriptionByID returns one subscription with its secret; files.ErrNotFound if gone.
func (db *DB) SubscriptionByID(ctx context.Context, id uuid.UUID) (webhook.Subscription, error) {
	s, err := scanSubscription(db.pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions WHERE id = $1`, [16]byte(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return webhook.Subscription{}, files.ErrNotFound
	}
	if err != nil {
		return webhook.Subscription{}, fmt.Errorf("postgres: subscription: %w", mapErr(err))
	}
	return s, nil
}

// DeleteSubscription implements webhook.Store.
func (db *DB) DeleteSubscription(ctx context.Context, id uuid.UUID) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM webhook_subscriptions WHERE id = $1`, [16]byte(id))
	if err != nil {
		return fmt.Errorf("postgres: delete subscription: %w", mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return files.ErrNotFound
	}
	return nil
}
