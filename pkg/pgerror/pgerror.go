// Package pgerror classifies PostgreSQL errors the same way in both services: which ones
// mean the database is unreachable or shutting down for now (a 503 with Retry-After, not a
// logged 500), and which mean a unique constraint refused a row.
package pgerror

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Transient reports whether err means the database cannot be used right now: a connection
// that failed or broke, a server shutting down or out of resources. Retrying later may
// succeed; nothing about the request was wrong. A cancelled or timed-out context is not
// transient: the caller gave up.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 (connection exception), 57P (operator intervention: shutdown, crash),
		// 53 (insufficient resources: too many connections, out of memory or disk).
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "53")
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return true
	}
	// A connection that broke mid-query surfaces as a plain network error.
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such file or directory") ||
		strings.Contains(s, "unexpected EOF") || strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset") ||
		strings.Contains(s, "closed pool")
}

// UniqueViolation reports whether err is a unique constraint's refusal (SQLSTATE 23505).
func UniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
