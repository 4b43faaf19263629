// Package auditlog is Coffer's audit log: the events both services append (who did what, to
// what, through which client or link), the hash chain that links each row to the one before
// it so that an edited, inserted or deleted row is found and named, and (asyncrecorder.go) a
// recorder that batches events off the request path.
//
// Storage lives in package auditlog/auditpg (PostgreSQL, append-only by trigger and grants).
package auditlog

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is one thing that happened. Actor says who (a user id, a client id, "cli" for an
// admin command on the host, "" for an anonymous caller such as a link holder); Action what
// ("login.success", "file.download", "admin.user.disable"...); Target what it was done to (a
// user id, a file id, a client id). Details carry the rest as a JSON object.
type Event struct {
	At       time.Time
	Actor    string
	Action   string
	Target   string
	ClientID string
	Address  string
	Details  map[string]string
}

// Record is an Event as stored: its place in the chain and its hashes.
type Record struct {
	Seq      int64
	At       time.Time
	Actor    string
	Action   string
	Target   string
	ClientID string
	Address  string
	// Details is the JSON object exactly as hashed and stored.
	Details  string
	PrevHash []byte
	Hash     []byte
}

// Genesis is the PrevHash of the first record of a chain.
var Genesis = make([]byte, sha256.Size)

// NewRecord chains e after prev (nil: the first record) as record seq.
func NewRecord(e Event, seq int64, prev []byte) (Record, error) {
	if prev == nil {
		prev = Genesis
	}
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details) // map keys are sorted: one encoding per map
		if err != nil {
			return Record{}, fmt.Errorf("auditlog: details: %w", err)
		}
		details = string(b)
	}
	r := Record{Seq: seq, At: e.At.UTC().Truncate(time.Microsecond), Actor: e.Actor, Action: e.Action, Target: e.Target,
		ClientID: e.ClientID, Address: e.Address, Details: details, PrevHash: prev}
	r.Hash = r.ComputeHash()
	return r, nil
}

// ComputeHash is SHA-256 over the previous hash and every field, each length-prefixed so
// that no two different records hash the same bytes. Time counts in microseconds, the
// precision PostgreSQL keeps.
func (r Record) ComputeHash() []byte {
	// The fields are laid out in one buffer (on the stack for a usual record) and hashed at
	// once: the same bytes as writing each to the hash, without a conversion per field.
	var stack [512]byte
	b := stack[:0]
	b = binary.BigEndian.AppendUint64(b, uint64(len(r.PrevHash)))
	b = append(b, r.PrevHash...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(r.At.UnixMicro()))
	for _, s := range [...]string{r.Actor, r.Action, r.Target, r.ClientID, r.Address, r.Details} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// ErrTampered is wrapped by every *TamperError.
var ErrTampered = errors.New("audit log tampered")

// TamperError names the first row where the chain breaks and how.
type TamperError struct {
	Seq    int64  // the row that does not fit (for a gap: the first row after it)
	Reason string // "edited", "inserted or reordered", "deleted rows before it"
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("audit log: row %d: %s", e.Seq, e.Reason)
}

// Is makes errors.Is(err, ErrTampered) true.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }

// Verifier checks records in ascending Seq order, one at a time.
type Verifier struct {
	prev    *Record
	checked int64
}

// Check verifies r against itself and the record before it. The first record checked may
// start after Seq 1 (older rows pruned by retention); its PrevHash cannot be checked.
func (v *Verifier) Check(r Record) error {
	switch {
	case v.prev != nil && r.Seq != v.prev.Seq+1:
		if r.Seq <= v.prev.Seq {
			return &TamperError{Seq: r.Seq, Reason: "inserted or reordered (sequence goes back)"}
		}
		return &TamperError{Seq: r.Seq, Reason: fmt.Sprintf("rows %d to %d deleted before it", v.prev.Seq+1, r.Seq-1)}
	case v.prev != nil && string(r.PrevHash) != string(v.prev.Hash):
		return &TamperError{Seq: r.Seq, Reason: "inserted or previous row replaced (previous hash does not match)"}
	case v.prev == nil && r.Seq == 1 && string(r.PrevHash) != string(Genesis):
		return &TamperError{Seq: r.Seq, Reason: "first row's previous hash is not the genesis hash"}
	case string(r.ComputeHash()) != string(r.Hash):
		return &TamperError{Seq: r.Seq, Reason: "edited (hash does not match its content)"}
	}
	v.prev = &r
	v.checked++
	return nil
}

// Checked is how many records passed; Head the last one (nil before any).
func (v *Verifier) Checked() int64 { return v.checked }

// Head is the last record that passed, whose hash an operator may note elsewhere to detect a
// chain recomputed from scratch; nil before any.
func (v *Verifier) Head() *Record { return v.prev }

// JSONRecord is a Record as the admin APIs and exports write it.
type JSONRecord struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Target   string          `json:"target,omitempty"`
	ClientID string          `json:"client_id,omitempty"`
	Address  string          `json:"address,omitempty"`
	Details  json.RawMessage `json:"details,omitempty"`
	Hash     string          `json:"hash"`
}

// JSON returns r for JSON output.
func JSON(r Record) JSONRecord {
	out := JSONRecord{Seq: r.Seq, At: r.At, Actor: r.Actor, Action: r.Action, Target: r.Target, ClientID: r.ClientID,
		Address: r.Address, Hash: fmt.Sprintf("%x", r.Hash)}
	if r.Details != "{}" && json.Valid([]byte(r.Details)) {
		out.Details = json.RawMessage(r.Details)
	}
	return out
}
