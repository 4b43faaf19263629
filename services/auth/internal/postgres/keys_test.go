package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/auth/internal/keys"
)

// sealed is a stored key; the sealed bytes are opaque to the store.
func sealed(id string, at time.Time) keys.Sealed {
	return keys.Sealed{ID: id, Sealed: []byte("sealed-" + id), CreatedAt: at, ActivatedAt: &at, ActivateAt: &at}
}

func listKeys(t *testing.T, db dbT) map[string]keys.Sealed {
	t.Helper()
	ks, err := db.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]keys.Sealed{}
	for _, k := range ks {
		m[k.ID] = k
	}
	return m
}

func timeIs(p *time.Time, want time.Time) bool { return p != nil && p.Equal(want) }

// At most one active and one next key are inserted, whoever races; Promote is a compare and
// swap of both; ScheduleNext only moves the activation earlier; RemoveRetired deletes keys
// retired at or before its time.
func TestKeyRotationStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	t0 := now()
	for _, tc := range []struct {
		insert func(keys.Sealed) (bool, error)
		id     string
		want   bool
	}{
		{func(k keys.Sealed) (bool, error) { return db.InsertActiveIfNone(ctx, k) }, "a1", true},
		{func(k keys.Sealed) (bool, error) { return db.InsertActiveIfNone(ctx, k) }, "a2", false},
		{func(k keys.Sealed) (bool, error) { return db.InsertNextIfNone(ctx, k) }, "n1", true},
		{func(k keys.Sealed) (bool, error) { return db.InsertNextIfNone(ctx, k) }, "n2", false},
	} {
		ok, err := tc.insert(sealed(tc.id, t0))
		if err != nil {
			t.Fatal(err)
		}
		if ok != tc.want {
			t.Errorf("insert %s = %v, want %v", tc.id, ok, tc.want)
		}
	}
	ks := listKeys(t, db)
	if len(ks) != 2 {
		t.Fatalf("stored keys %v, want a1 and n1", ks)
	}
	if a := ks["a1"]; a.State != keys.StateActive || string(a.Sealed) != "sealed-a1" || !a.CreatedAt.Equal(t0) ||
		!timeIs(a.ActivatedAt, t0) || a.RetiredAt != nil || a.ActivateAt != nil {
		t.Errorf("a1 = %+v", a)
	}
	if n := ks["n1"]; n.State != keys.StateNext || string(n.Sealed) != "sealed-n1" || n.ActivatedAt != nil || !timeIs(n.ActivateAt, t0) {
		t.Errorf("n1 = %+v", n)
	}

	// ScheduleNext moves the activation only earlier, and only of the next key.
	later, earlier := t0.Add(time.Hour), t0.Add(-time.Hour)
	for _, tc := range []struct {
		kid  string
		at   time.Time
		want time.Time
	}{
		{"n1", later, t0},
		{"n1", earlier, earlier},
		{"a1", earlier.Add(-time.Hour), earlier},
	} {
		if err := db.ScheduleNext(ctx, tc.kid, tc.at); err != nil {
			t.Fatal(err)
		}
		if n := listKeys(t, db)["n1"]; !timeIs(n.ActivateAt, tc.want) {
			t.Errorf("after ScheduleNext(%s, %v): n1 activates at %v, want %v", tc.kid, tc.at, n.ActivateAt, tc.want)
		}
	}
	if a := listKeys(t, db)["a1"]; a.ActivateAt != nil || a.State != keys.StateActive {
		t.Errorf("ScheduleNext changed the active key: %+v", a)
	}

	// Promote is a compare and swap: wrong ids change nothing.
	t1 := t0.Add(time.Minute)
	for _, ids := range [][2]string{{"a1", "a2"}, {"n1", "n1"}, {"a1", "a1"}, {"x", "n1"}} {
		ok, err := db.Promote(ctx, ids[0], ids[1], t1)
		if err != nil || ok {
			t.Errorf("Promote(%s, %s) = %v, %v; want false", ids[0], ids[1], ok, err)
		}
	}
	ks = listKeys(t, db)
	if ks["a1"].State != keys.StateActive || ks["a1"].RetiredAt != nil || ks["n1"].State != keys.StateNext {
		t.Fatalf("a failed Promote changed the keys: %+v", ks)
	}
	// Two replicas promote at once: exactly one does.
	results := make(chan bool, 2)
	for range 2 {
		go func() {
			ok, err := db.Promote(ctx, "a1", "n1", t1)
			if err != nil {
				t.Error(err)
			}
			results <- ok
		}()
	}
	if r1, r2 := <-results, <-results; r1 == r2 {
		t.Fatalf("racing promotions returned %v and %v, want exactly one true", r1, r2)
	}
	ks = listKeys(t, db)
	if a := ks["a1"]; a.State != keys.StateRetired || !timeIs(a.RetiredAt, t1) {
		t.Errorf("a1 after Promote = %+v, want retired at %v", a, t1)
	}
	if n := ks["n1"]; n.State != keys.StateActive || !timeIs(n.ActivatedAt, t1) || n.ActivateAt != nil {
		t.Errorf("n1 after Promote = %+v, want active since %v", n, t1)
	}
	if ok, err := db.InsertNextIfNone(ctx, sealed("n3", t1)); err != nil || !ok {
		t.Fatalf("next key after a promotion: %v, %v", ok, err)
	}

	for _, tc := range []struct {
		by   time.Time
		want []string
	}{
		{t1.Add(-time.Microsecond), nil},
		{t1, []string{"a1"}},
		{t1, nil},
	} {
		got, err := db.RemoveRetired(ctx, tc.by)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("RemoveRetired(%v) = %v, want %v", tc.by, got, tc.want)
		}
	}
	if ks := listKeys(t, db); len(ks) != 2 || ks["n1"].State != keys.StateActive || ks["n3"].State != keys.StateNext {
		t.Errorf("keys left: %+v", ks)
	}
}
