// Package fence keeps replica reads from undoing a revocation. A transaction that takes access
// away (a share revoked, a file deleted, a link revoked or used up) publishes a Notice with
// Publish; every file node's Listener hears it on a direct (unpooled) connection to the
// primary, reads a WAL position at or past the transaction's commit, and from then on reads
// from a replica only once that replica has replayed at least that far (the fence).
//
// Why it is safe (docs/SCALING.md has the long form): notifications reach a listener in commit
// order; a node trusts its subscription only for Lease after sending a heartbeat it has since
// heard back, so a node that has not yet heard a notice stops trusting replicas at most Lease
// after that notice's commit; and the revoking request waits (Listener.Await) until every node
// it knows of has acknowledged the notice, or Lease has passed. Once the request returns, no
// node serves the revoked access from a replica.
package fence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// Channel is the PostgreSQL notification channel of notices, heartbeats and acknowledgements.
const Channel = "coffer_fence"

// Kinds of notice. A new revoking operation adds its own kind; listeners treat every kind
// alike (as a fence), caches may look at it.
const (
	ShareRevoked = "share_revoked" // FileID, OwnerID, UserID (the grantee)
	FileDeleted  = "file_deleted"  // FileID, OwnerID
	LinkRevoked  = "link_revoked"  // FileID, OwnerID, LinkID
	LinkUsedUp   = "link_used_up"  // FileID, LinkID
	FileExpired  = "file_expired"  // FileID, OwnerID: retention deleted it
	// RequestClosed: a file request closed or deleted (RequestID, OwnerID); no more uploads.
	RequestClosed = "request_closed"
	// FileChanged: a file row changed in a way a cached copy must not hide (renamed, expiry
	// set, bytes marked missing): FileID, OwnerID.
	FileChanged = "file_changed"
	// SubscriptionLost is never published: a Listener gives it to its subscribers when its
	// subscription failed, since any notice may have been missed.
	SubscriptionLost = "subscription_lost"

	// Grants (Notice.Grant): access given, not taken away.
	FileCreated  = "file_created"  // FileID, OwnerID: a new file, in its owner's listing
	ShareCreated = "share_created" // FileID, OwnerID, UserID: in the grantee's shared listing
)

// Notice says what a committed transaction revoked. LSN is filled in by the Listener that
// received it: a position of the primary's WAL at or past the transaction's commit.
type Notice struct {
	ID      string    `json:"id"` // set by Publish; Await waits for it
	Kind    string    `json:"kind"`
	FileID  uuid.UUID `json:"file_id,omitzero"`
	OwnerID string    `json:"owner_id,omitempty"`
	UserID  string    `json:"user_id,omitempty"`
	LinkID  uuid.UUID `json:"link_id,omitzero"`
	// RequestID names a file request (RequestClosed).
	RequestID uuid.UUID `json:"request_id,omitzero"`
	// Grant marks a notice of access given (a new file, a new share) rather than taken away.
	// It does not move the node's fence: it fences only the listings of the users it names
	// (OwnerID, UserID), which a subscriber keeps (read-your-writes across nodes), so that a
	// stream of uploads does not send every read of every node to the primary.
	Grant bool `json:"grant,omitempty"`
	LSN   LSN  `json:"-"`
}

// Execer runs a statement: a pgx.Tx (or a pool, for a single-statement transaction).
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Publish queues n in tx. PostgreSQL delivers it to every listener when, and only if, tx
// commits. It returns the notice's id, for Listener.Await after the commit.
func Publish(ctx context.Context, tx Execer, n Notice) (string, error) {
	id, payload, err := Prepare(n)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, payload); err != nil {
		return "", fmt.Errorf("fence: publish: %w", err)
	}
	return id, nil
}

// Prepare gives n an id and returns it with the payload to send on Channel, for a statement
// that publishes the notice itself (pg_notify(Channel, payload) in a CTE, say), so that the
// notice commits with the change it reports even without an explicit transaction.
func Prepare(n Notice) (id, payload string, err error) {
	n.ID = newID()
	b, err := json.Marshal(message{Notice: &n})
	if err != nil {
		return "", "", fmt.Errorf("fence: %w", err)
	}
	return n.ID, string(b), nil
}

// message is one notification's payload: exactly one of its fields is set.
type message struct {
	Notice *Notice `json:"n,omitempty"`
	// Heartbeat: a node's sign of life, sent now and then on its listening connection.
	Heartbeat *beat `json:"h,omitempty"`
	// Ack: a node has taken these notices' fence.
	Ack *ack `json:"a,omitempty"`
}

type beat struct {
	Node string `json:"node"`
	Seq  uint64 `json:"seq"`
}

type ack struct {
	Node string   `json:"node"`
	IDs  []string `json:"ids"`
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// LSN is a position in PostgreSQL's write-ahead log.
type LSN uint64

// ParseLSN reads PostgreSQL's text form of a pg_lsn, "16/B374D848".
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("fence: malformed LSN %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("fence: malformed LSN %q", s)
	}
	return LSN(h<<32 | l), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }
