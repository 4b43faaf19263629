package auditlog_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/auditlog"
)

// chain builds n records as Append would.
func chain(t *testing.T, n int) []auditlog.Record {
	t.Helper()
	var out []auditlog.Record
	var prev []byte
	for i := range n {
		r, err := auditlog.NewRecord(auditlog.Event{At: time.Unix(1700000000, int64(i)*1000), Actor: "u1", Action: "file.download",
			Target: "f1", Details: map[string]string{"via": "link", "n": string(rune('a' + i))}}, int64(i+1), prev)
		if err != nil {
			t.Fatal(err)
		}
		prev = r.Hash
		out = append(out, r)
	}
	return out
}

func verify(rs []auditlog.Record) error {
	var v auditlog.Verifier
	for _, r := range rs {
		if err := v.Check(r); err != nil {
			return err
		}
	}
	return nil
}

func TestVerifierNamesTheRow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func([]auditlog.Record) []auditlog.Record
		want   string // "" for intact
	}{
		{"intact", func(rs []auditlog.Record) []auditlog.Record { return rs }, ""},
		{"pruned prefix", func(rs []auditlog.Record) []auditlog.Record { return rs[2:] }, ""},
		{"actor edited", func(rs []auditlog.Record) []auditlog.Record { rs[2].Actor = "mallory"; return rs }, "row 3: edited"},
		{"details edited", func(rs []auditlog.Record) []auditlog.Record { rs[1].Details = `{"via":"owner"}`; return rs }, "row 2: edited"},
		{"time edited", func(rs []auditlog.Record) []auditlog.Record { rs[3].At = rs[3].At.Add(time.Second); return rs }, "row 4: edited"},
		{"edited with its hash recomputed", func(rs []auditlog.Record) []auditlog.Record {
			rs[1].Actor = "mallory"
			rs[1].Hash = rs[1].ComputeHash()
			return rs
		}, "row 3: inserted or previous row replaced"},
		{"row deleted", func(rs []auditlog.Record) []auditlog.Record { return append(rs[:2:2], rs[3:]...) }, "row 4: rows 3 to 3 deleted"},
		{"row inserted", func(rs []auditlog.Record) []auditlog.Record {
			extra := rs[1]
			extra.Seq = 5
			return append(rs, extra)
		}, "row 5: inserted or previous row replaced"},
		{"reordered", func(rs []auditlog.Record) []auditlog.Record { rs[1], rs[2] = rs[2], rs[1]; return rs }, "row 3: rows 2 to 2 deleted"},
		{"genesis replaced", func(rs []auditlog.Record) []auditlog.Record {
			rs[0].PrevHash = []byte("x")
			rs[0].Hash = rs[0].ComputeHash()
			return rs
		}, "row 1: first row"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verify(tc.tamper(chain(t, 4)))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("intact chain: %v", err)
				}
				return
			}
			if !errors.Is(err, auditlog.ErrTampered) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestComputeHashLayout pins the hashed bytes: SHA-256 over the previous hash, seq, time in
// microseconds and each text field, every variable field preceded by its big-endian length.
// Records already stored were chained with this layout; a change would break their chain.
func TestComputeHashLayout(t *testing.T) {
	r := auditlog.Record{Seq: 7, At: time.UnixMicro(1700000000123456), Actor: "u1", Action: "file.download", Target: "f1",
		ClientID: "web", Address: "192.0.2.1", Details: `{"via":"share"}`, PrevHash: bytes.Repeat([]byte{9}, 32)}
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field(r.PrevHash)
	binary.BigEndian.PutUint64(n[:], 7)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], 1700000000123456)
	h.Write(n[:])
	for _, s := range []string{"u1", "file.download", "f1", "web", "192.0.2.1", `{"via":"share"}`} {
		field([]byte(s))
	}
	if got, want := r.ComputeHash(), h.Sum(nil); !bytes.Equal(got, want) {
		t.Errorf("ComputeHash = %x, want %x", got, want)
	}
	long := r
	long.Details = strings.Repeat("x", 4000) // past the stack buffer
	if a, b := long.ComputeHash(), r.ComputeHash(); bytes.Equal(a, b) || len(a) != 32 {
		t.Errorf("a record past the stack buffer hashed to %x", a)
	}
}
