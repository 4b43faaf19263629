package files

import (
	"encoding/hex"
	"time"

	"github.com/google/uuid"
)

// Event types. Each state change records exactly one event, in the same transaction as the
// change (the outbox): a rolled-back change records none, a committed one always has its event.
const (
	EventFileCreated    = "file.created"
	EventFileDeleted    = "file.deleted"
	EventFileExpired    = "file.expired"
	EventFileRejected   = "file.rejected"
	EventShareCreated   = "share.created"
	EventShareRevoked   = "share.revoked"
	EventLinkCreated    = "link.created"
	EventLinkRevoked    = "link.revoked"
	EventLinkDownloaded = "link.downloaded"
	// EventRequestReceived: a file arrived through a file request (beside its file.created).
	EventRequestReceived = "request.received"
)

// EventTypes lists every event type, in a stable order.
var EventTypes = []string{
	EventFileCreated, EventFileDeleted, EventFileExpired, EventFileRejected,
	EventShareCreated, EventShareRevoked, EventLinkCreated, EventLinkRevoked, EventLinkDownloaded,
	EventRequestReceived,
}

// Event is one recorded state change. Its ID is stable: every delivery of it carries the same
// webhook-id, so receivers can deduplicate. It never carries a secret (no token, link token,
// password or file content): only ids and metadata.
type Event struct {
	ID      uuid.UUID
	Type    string
	Time    time.Time
	OwnerID string
	FileID  uuid.UUID // uuid.Nil when the event is not about one file
	Data    EventData
}

// EventData is the type-specific part of an event. Empty members are left out of its JSON.
type EventData struct {
	FileID       string     `json:"file_id,omitempty"`
	OwnerID      string     `json:"owner_id,omitempty"`
	Name         string     `json:"name,omitempty"`
	Size         *int64     `json:"size,omitempty"`
	SHA256       string     `json:"sha256,omitempty"` // hex
	ContentType  string     `json:"content_type,omitempty"`
	Status       string     `json:"status,omitempty"`
	Reason       string     `json:"reason,omitempty"`  // file.rejected: the scanner's finding
	UserID       string     `json:"user_id,omitempty"` // share.*: the recipient
	LinkID       string     `json:"link_id,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	MaxDownloads *int       `json:"max_downloads,omitempty"`
	RequestID    string     `json:"request_id,omitempty"`    // request.received: the file request
	UploaderName string     `json:"uploader_name,omitempty"` // request.received: the name its sender gave
}

// NewEvent makes an event of type typ about file f (its owner, id and metadata) at now.
func NewEvent(typ string, f File, now time.Time) Event {
	size := f.Size
	d := EventData{
		FileID: f.ID.String(), OwnerID: f.OwnerID, Name: f.Name, Size: &size,
		ContentType: f.ContentType, Status: f.Status,
	}
	if len(f.SHA256) > 0 {
		d.SHA256 = hex.EncodeToString(f.SHA256)
	}
	return Event{ID: uuid.New(), Type: typ, Time: now.UTC().Truncate(time.Microsecond), OwnerID: f.OwnerID, FileID: f.ID, Data: d}
}

// RequestEvent is the request.received event of file f, which arrived through a file request.
// It carries the request's id, never its short id or password (they would let a receiver
// upload).
func RequestEvent(f File, now time.Time) Event {
	e := NewEvent(EventRequestReceived, f, now)
	if f.RequestID != nil {
		e.Data.RequestID = f.RequestID.String()
	}
	e.Data.UploaderName = f.UploaderName
	return e
}

// fileEvent is an event about a file of which only the id and owner are at hand.
func fileEvent(typ, ownerID string, fileID uuid.UUID, now time.Time, d EventData) Event {
	d.FileID, d.OwnerID = fileID.String(), ownerID
	return Event{ID: uuid.New(), Type: typ, Time: now.UTC().Truncate(time.Microsecond), OwnerID: ownerID, FileID: fileID, Data: d}
}

// File states. A file is served only when available.
const (
	StatusAvailable   = "available"
	StatusPendingScan = "pending_scan"
	StatusRejected    = "rejected"
)

// ShareEvent is a share.* event: ownerID's file shared with (or no longer with) userID.
func ShareEvent(typ, ownerID string, fileID uuid.UUID, userID string, now time.Time) Event {
	return fileEvent(typ, ownerID, fileID, now, EventData{UserID: userID})
}

// LinkEvent is a link.* event about link l of ownerID's file. It never carries the link's
// token or jti, which would let a receiver download the file.
func LinkEvent(typ, ownerID string, l Link, now time.Time) Event {
	d := EventData{LinkID: l.ID.String()}
	if !l.ExpiresAt.IsZero() {
		exp := l.ExpiresAt.UTC()
		d.ExpiresAt = &exp
	}
	d.MaxDownloads = l.MaxDownloads
	return fileEvent(typ, ownerID, l.FileID, now, d)
}
