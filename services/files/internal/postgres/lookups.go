package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Every download asks for its file's row and the caller's right to it (FileByID), so a
// small download costs a PostgreSQL statement: a round trip, pgx's encoding, the handler
// parked and woken, and PostgreSQL's own parse, execute and send on the same cores. That
// statement was most of the gap between a 4 KiB download without the access cache and
// http.ServeFile (docs/PERFORMANCE.md). Concurrent lookups are therefore coalesced: the first
// lookup that finds fewer than lookupStatements statements in flight sends at once, carrying
// every lookup queued by then; the ones that arrive while statements are in flight wait for
// the next one, which is sent as soon as one returns. An idle node adds no wait; a busy one
// sends one statement for many downloads.
//
// Revocation stays as immediate as with one statement each: a lookup is only ever answered by
// a statement sent after it was queued, that is after its request arrived, so once a revoking
// request has returned (its transaction committed), no lookup that starts later can see the
// access it took away.
const (
	// lookupStatements is how many coalesced statements one node keeps in flight: two keep
	// both of PostgreSQL's cores of a small machine busy while the next batch gathers.
	lookupStatements = 2
	// lookupBatch is the most lookups one statement carries.
	lookupBatch = 64
	// lookupTimeout bounds one coalesced statement: it serves many requests, so it runs on
	// its own deadline rather than the first request's (whose client may go away).
	lookupTimeout = 30 * time.Second
)

// lookupSQL answers a batch: $1 the file ids, $2 the users asking, pairwise; n is the
// lookup's place in the batch (1-based). The predicate is FileByID's: the owner, or a user
// the file is shared with.
const lookupSQL = `SELECT ` + readColumns + `, k.n FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS k(file_id, user_id, n)
	JOIN files ON files.id = k.file_id
	WHERE files.owner_id = k.user_id OR EXISTS (SELECT 1 FROM file_shares s WHERE s.file_id = k.file_id AND s.user_id = k.user_id)`

// lookup is one FileByID waiting for its statement.
type lookup struct {
	user string
	id   [16]byte
	file files.File
	err  error
	done chan struct{}
}

// lookups coalesces FileByID's statements (see above).
type lookups struct {
	// run answers a batch, setting each lookup's file or err (DB.lookupBatch).
	run func(ctx context.Context, batch []*lookup)

	mu       sync.Mutex
	queue    []*lookup
	inFlight int
	sent     int64 // statements sent, for tests
}

// fileByID answers one lookup, in a statement of its own or with others.
func (l *lookups) fileByID(ctx context.Context, user string, id uuid.UUID) (files.File, error) {
	k := &lookup{user: user, id: id, done: make(chan struct{})}
	l.mu.Lock()
	l.queue = append(l.queue, k)
	var batch []*lookup
	if l.inFlight < lookupStatements {
		l.inFlight++
		batch = l.take()
	}
	l.mu.Unlock()
	if batch != nil {
		// The caller sends its own batch: no goroutine hand-off on an idle node.
		l.send(batch)
	}
	select {
	case <-k.done:
		return k.file, k.err
	case <-ctx.Done():
		// Its statement still answers the others; this request no longer waits for it.
		return files.File{}, fmt.Errorf("postgres: file by id: %w", ctx.Err())
	}
}

// take removes the next batch from the queue; l.mu is held.
func (l *lookups) take() []*lookup {
	n := min(len(l.queue), lookupBatch)
	batch := l.queue[:n:n]
	l.queue = l.queue[n:]
	if len(l.queue) == 0 {
		l.queue = nil // let the backing array go
	}
	l.sent++
	return batch
}

// send runs batch, answers its lookups, and hands what queued meanwhile to a statement of
// its own, or gives up its place when nothing did.
func (l *lookups) send(batch []*lookup) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	l.run(ctx, batch)
	cancel()
	for _, k := range batch {
		close(k.done)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		l.inFlight--
		return
	}
	go l.send(l.take())
}

// statements reports how many statements the lookups have sent.
func (l *lookups) statements() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent
}

// lookupBatch runs lookupSQL for batch, on a replica that has caught up with the fences or on
// the primary (DB.read). A lookup without a row is ErrNotFound: on a replica it may only be
// behind, so then the whole batch is asked again of the primary.
func (db *DB) lookupBatch(ctx context.Context, batch []*lookup) {
	ids := make([][16]byte, len(batch))
	users := make([]string, len(batch))
	for i, k := range batch {
		ids[i], users[i] = k.id, k.user
	}
	err := db.read(ctx, func(q querier) error {
		for _, k := range batch {
			k.file, k.err = files.File{}, files.ErrNotFound
		}
		rows, err := q.Query(ctx, lookupSQL, ids, users)
		if err != nil {
			return fmt.Errorf("postgres: file by id: %w", mapErr(err))
		}
		defer rows.Close()
		found := 0
		for rows.Next() {
			var n int64
			f, err := scanFile(rows, &n)
			if err != nil {
				return fmt.Errorf("postgres: file by id: %w", mapErr(err))
			}
			if n < 1 || n > int64(len(batch)) {
				return fmt.Errorf("postgres: file by id: answer %d of a batch of %d", n, len(batch))
			}
			batch[n-1].file, batch[n-1].err = f, nil
			found++
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: file by id: %w", mapErr(err))
		}
		if found < len(batch) {
			return files.ErrNotFound // final on the primary; on a replica, the primary answers
		}
		return nil
	})
	if err != nil && !errors.Is(err, files.ErrNotFound) {
		for _, k := range batch {
			k.file, k.err = files.File{}, err
		}
	}
}
