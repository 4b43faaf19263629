package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// JobQueue enqueues background jobs inside the caller's transaction, so a job exists exactly
// when the change that asks for it commits (package queue, on river).
type JobQueue interface {
	// EnqueueEvent asks for event id to be delivered to the webhooks that want it.
	EnqueueEvent(ctx context.Context, tx pgx.Tx, id uuid.UUID) error
	// EnqueueScan asks for file id's bytes to be scanned.
	EnqueueScan(ctx context.Context, tx pgx.Tx, id uuid.UUID) error
}

// SetQueue makes the store enqueue a delivery job with every event it records. Without one,
// events are recorded in the outbox only (tests of the store alone).
func (db *DB) SetQueue(q JobQueue) { db.queue = q }

// now is the time of events whose change carries no time of its own (a revocation).
func (db *DB) now() time.Time {
	if db.clock != nil {
		return db.clock()
	}
	return time.Now()
}

// SetClock sets the clock of event times (tests).
func (db *DB) SetClock(now func() time.Time) { db.clock = now }

// emit records e in tx's transaction: the outbox row and its delivery job commit or roll back
// with the change itself.
func (db *DB) emit(ctx context.Context, tx pgx.Tx, e files.Event) error {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return fmt.Errorf("postgres: event data: %w", err)
	}
	var fileID *[16]byte
	if e.FileID != uuid.Nil {
		id := [16]byte(e.FileID)
		fileID = &id
	}
	if _, err := tx.Exec(ctx, `INSERT INTO file_events (id, type, occurred_at, owner_id, file_id, data)
		VALUES ($1, $2, $3, $4, $5, $6)`, [16]byte(e.ID), e.Type, e.Time, e.OwnerID, fileID, data); err != nil {
		return fmt.Errorf("postgres: record event: %w", mapErr(err))
	}
	if db.queue != nil {
		if err := db.queue.EnqueueEvent(ctx, tx, e.ID); err != nil {
			return fmt.Errorf("postgres: enqueue event: %w", mapErr(err))
		}
	}
	return nil
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx))
}

// EventByID returns a recorded event; files.ErrNotFound if there is none.
func (db *DB) EventByID(ctx context.Context, id uuid.UUID) (files.Event, error) {
	var e files.Event
	var fileID *[16]byte
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT id, type, occurred_at, owner_id, file_id, data FROM file_events WHERE id = $1`,
		[16]byte(id)).Scan((*[16]byte)(&e.ID), &e.Type, &e.Time, &e.OwnerID, &fileID, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return files.Event{}, files.ErrNotFound
	}
	if err != nil {
		return files.Event{}, fmt.Errorf("postgres: event: %w", mapErr(err))
	}
	if fileID != nil {
		e.FileID = uuid.UUID(*fileID)
	}
	if err := json.Unmarshal(data, &e.Data); err != nil {
		return files.Event{}, fmt.Errorf("postgres: event data: %w", err)
	}
	return e, nil
}
