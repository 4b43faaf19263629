// Package auditpg keeps an audit log (package auditlog) in a PostgreSQL table that the
// services' migrations create with Schema's layout: appended under a transaction-scoped
// advisory lock so that replicas extend one chain, read in sequence order for verification,
// queried with filters and pages, and pruned from its oldest end for retention.
package auditpg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/pkg/auditlog"
)

// Schema documents the table a migration must create (the services' migrations hold their own
// copy, with the append-only trigger and the prune function; see the auth service's
// 0017_audit_log.sql).
const Schema = `seq bigint PRIMARY KEY, at timestamptz, actor text, action text, target text,
client_id text, address text, details text, prev_hash bytea, hash bytea`

var tablePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Store appends to and reads one audit table.
type Store struct {
	pool  *pgxpool.Pool
	table string
}

// New returns a Store for table (a plain lower-case identifier).
func New(pool *pgxpool.Pool, table string) (*Store, error) {
	if !tablePattern.MatchString(table) {
		return nil, fmt.Errorf("auditpg: bad table name %q", table)
	}
	return &Store{pool: pool, table: table}, nil
}

// Append adds events at the head of the chain, in order, in one transaction. The advisory
// lock, taken for the transaction, serialises appenders on every replica.
func (s *Store) Append(ctx context.Context, events ...auditlog.Event) error {
	if len(events) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "coffer.audit."+s.table); err != nil {
			return err
		}
		var seq int64
		var prev []byte
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM `+s.table+` ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows := make([][]any, 0, len(events))
		for _, e := range events {
			seq++
			r, err := auditlog.NewRecord(e, seq, prev)
			if err != nil {
				return err
			}
			prev = r.Hash
			rows = append(rows, []any{r.Seq, r.At, r.Actor, r.Action, r.Target, r.ClientID, r.Address, r.Details, r.PrevHash, r.Hash})
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{s.table}, columns, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return fmt.Errorf("auditpg: append: %w", err)
	}
	return nil
}

var columns = []string{"seq", "at", "actor", "action", "target", "client_id", "address", "details", "prev_hash", "hash"}

const selectColumns = `seq, at, actor, action, target, client_id, address, details, prev_hash, hash`

func scan(row pgx.Row) (auditlog.Record, error) {
	var r auditlog.Record
	err := row.Scan(&r.Seq, &r.At, &r.Actor, &r.Action, &r.Target, &r.ClientID, &r.Address, &r.Details, &r.PrevHash, &r.Hash)
	r.At = r.At.UTC()
	return r, err
}

// Verify reads the whole table in sequence order and checks the chain, returning how many
// rows passed and the head (nil for an empty log), or the first *auditlog.TamperError.
func (s *Store) Verify(ctx context.Context) (int64, *auditlog.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+selectColumns+` FROM `+s.table+` ORDER BY seq`)
	if err != nil {
		return 0, nil, fmt.Errorf("auditpg: verify: %w", err)
	}
	defer rows.Close()
	var v auditlog.Verifier
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return v.Checked(), nil, fmt.Errorf("auditpg: verify: %w", err)
		}
		if err := v.Check(r); err != nil {
			return v.Checked(), v.Head(), err
		}
	}
	if err := rows.Err(); err != nil {
		return v.Checked(), nil, fmt.Errorf("auditpg: verify: %w", err)
	}
	return v.Checked(), v.Head(), nil
}

// Query selects records. Empty fields match everything; Action matches a prefix
// ("admin." matches every admin action). Records come in ascending Seq after AfterSeq.
type Query struct {
	Actor    string
	Action   string
	Target   string
	ClientID string
	Since    time.Time
	Until    time.Time
	AfterSeq int64
	Limit    int // 0: no limit (Each only)
}

// Each calls fn for every record q selects, streaming, in ascending Seq.
func (s *Store) Each(ctx context.Context, q Query, fn func(auditlog.Record) error) error {
	sql := `SELECT ` + selectColumns + ` FROM ` + s.table + `
		WHERE seq > $1 AND ($2 = '' OR actor = $2) AND ($3 = '' OR starts_with(action, $3))
		  AND ($4 = '' OR target = $4) AND ($5 = '' OR client_id = $5)
		  AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
		ORDER BY seq`
	args := []any{q.AfterSeq, q.Actor, q.Action, q.Target, q.ClientID, nullTime(q.Since), nullTime(q.Until)}
	if q.Limit > 0 {
		sql += ` LIMIT $8`
		args = append(args, q.Limit)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("auditpg: query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return fmt.Errorf("auditpg: query: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("auditpg: query: %w", err)
	}
	return nil
}

// List returns the records q selects (q.Limit bounds them).
func (s *Store) List(ctx context.Context, q Query) ([]auditlog.Record, error) {
	var out []auditlog.Record
	err := s.Each(ctx, q, func(r auditlog.Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Prune deletes the oldest records, those before before, through the table's prune function
// (which refuses anything younger than a day): retention shortens the chain only from its
// old end, which Verify accepts.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT `+s.table+`_prune($1)`, before).Scan(&n); err != nil {
		return 0, fmt.Errorf("auditpg: prune: %w", err)
	}
	return n, nil
}

// IsAppendOnlyRefusal reports whether err is PostgreSQL refusing a change to an audit table
// (the trigger's or a missing privilege's insufficient_privilege).
func IsAppendOnlyRefusal(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

// QueryError is a bad audit filter; Reason is written for the client.
type QueryError struct{ Reason string }

func (e *QueryError) Error() string { return "audit query: " + e.Reason }

// ParseQuery reads the audit filters of an admin API request: actor, action (a prefix),
// target, client_id, since and until (RFC 3339), after (the previous page's next seq),
// limit (1-1000, default 100), and format=jsonl for an unpaged JSON-lines export (jsonl true).
func ParseQuery(v url.Values) (q Query, jsonl bool, err error) {
	q = Query{Actor: v.Get("actor"), Action: v.Get("action"), Target: v.Get("target"), ClientID: v.Get("client_id"), Limit: 100}
	for _, f := range []string{q.Actor, q.Action, q.Target, q.ClientID} {
		if len(f) > 256 || strings.ContainsRune(f, 0) {
			return q, false, &QueryError{"filters are at most 256 bytes, without NUL"}
		}
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if s := v.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, false, &QueryError{name + " must be an RFC 3339 time"}
			}
			*dst = t
		}
	}
	if s := v.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return q, false, &QueryError{"after must be a record's seq"}
		}
		q.AfterSeq = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return q, false, &QueryError{"limit must be 1-1000"}
		}
		q.Limit = n
	}
	switch v.Get("format") {
	case "", "json":
	case "jsonl":
		jsonl, q.Limit = true, 0
	default:
		return q, false, &QueryError{"format must be json or jsonl"}
	}
	return q, jsonl, nil
}
