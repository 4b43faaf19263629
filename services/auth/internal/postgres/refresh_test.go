package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/postgres"
)

type dbT = *postgres.DB

// refreshToken is a new family's first token for the secret, issued at: idle expiry in an
// hour, family expiry in a day.
func refreshToken(user uuid.UUID, secret string, at time.Time) auth.RefreshToken {
	return auth.RefreshToken{ID: uuid.New(), FamilyID: uuid.New(), UserID: user, ClientID: "app",
		Hash: auth.HashSecret(secret), Scope: "files:read", CreatedAt: at,
		ExpiresAt: at.Add(time.Hour), FamilyExpiresAt: at.Add(24 * time.Hour)}
}

// successorOf is the token a rotation of used stores, under the secret.
func successorOf(used auth.RefreshToken, secret string, at time.Time) auth.RefreshToken {
	n := refreshToken(used.UserID, secret, at)
	n.FamilyID, n.FamilyExpiresAt = used.FamilyID, used.FamilyExpiresAt
	return n
}

// rotate presents hash at, with a reuse interval of ten seconds and succ (may be nil) as
// the successor a retry would name; a rotation stores a fresh successor.
func rotate(db dbT, hash []byte, at time.Time, succ []byte) error {
	return db.RotateRefreshToken(context.Background(), hash, at, at.Add(-10*time.Second), succ,
		func(used auth.RefreshToken, retry bool) (auth.RefreshToken, error) {
			return successorOf(used, uuid.NewString(), at), nil
		})
}

type call struct {
	used  auth.RefreshToken
	retry bool
	n     int
}

// rotateTo presents hash at with reuseSince and successor secret succ, storing the
// successor under succ; it records how next was called.
func rotateTo(db dbT, hash []byte, at, reuseSince time.Time, succ string, c *call) error {
	return db.RotateRefreshToken(context.Background(), hash, at, reuseSince, auth.HashSecret(succ),
		func(used auth.RefreshToken, retry bool) (auth.RefreshToken, error) {
			c.used, c.retry, c.n = used, retry, c.n+1
			return successorOf(used, succ, at), nil
		})
}

func sameToken(a, b auth.RefreshToken) bool {
	return a.ID == b.ID && a.FamilyID == b.FamilyID && a.UserID == b.UserID && a.ClientID == b.ClientID &&
		string(a.Hash) == string(b.Hash) && a.Scope == b.Scope && a.CreatedAt.Equal(b.CreatedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.FamilyExpiresAt.Equal(b.FamilyExpiresAt)
}

// Rotation hands next the stored token, stores its successor, and makes the presented token
// used: a retry within the reuse interval (used after reuseSince, successor untouched) gets
// next(used, true) and stores nothing; any other replay revokes the family.
func TestRotateRefreshToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("rotation then retries", func(t *testing.T) {
		t.Parallel()
		db := newDB(t)
		at := now()
		alice := newUser(t, db, "alice")
		rt := refreshToken(alice.ID, "rt-1", at)
		if err := db.CreateRefreshToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
		var c call
		if err := rotateTo(db, rt.Hash, at, at.Add(-time.Second), "rt-2", &c); err != nil {
			t.Fatal(err)
		}
		if c.n != 1 || c.retry || !sameToken(c.used, rt) {
			t.Fatalf("next called %d times, retry %v, with %+v; want once, false, %+v", c.n, c.retry, c.used, rt)
		}
		// Retry: used at `at`, reuseSince one microsecond before; the successor rt-2 is untouched.
		c = call{}
		if err := rotateTo(db, rt.Hash, at.Add(time.Second), at.Add(-time.Microsecond), "rt-2", &c); err != nil {
			t.Fatalf("retry within the interval: %v", err)
		}
		if c.n != 1 || !c.retry || !sameToken(c.used, rt) {
			t.Fatalf("retry: next called %d times, retry %v, with %+v", c.n, c.retry, c.used)
		}
		// The retry stored nothing: its rt-2 is the one stored by the rotation, once.
		if err := rotate(db, auth.HashSecret("rt-2"), at.Add(2*time.Second), nil); err != nil {
			t.Fatalf("successor after a retry: %v", err)
		}
		// Now the successor is used: presenting rt-1 again is a replay; the family is revoked.
		c = call{}
		if err := rotateTo(db, rt.Hash, at.Add(3*time.Second), at.Add(-time.Microsecond), "rt-2", &c); !errors.Is(err, auth.ErrRefreshReused) {
			t.Fatalf("replay after the successor was used: err = %v, want ErrRefreshReused", err)
		}
		if c.n != 0 {
			t.Fatalf("next called on a replay")
		}
	})
	t.Run("reuse interval boundary", func(t *testing.T) {
		t.Parallel()
		db := newDB(t)
		at := now()
		alice := newUser(t, db, "alice")
		rt := refreshToken(alice.ID, "rt-1", at)
		if err := db.CreateRefreshToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
		var c call
		if err := rotateTo(db, rt.Hash, at, at.Add(-time.Second), "rt-2", &c); err != nil {
			t.Fatal(err)
		}
		// Used exactly at reuseSince: outside the interval (used_at > reuseSince).
		c = call{}
		if err := rotateTo(db, rt.Hash, at.Add(time.Second), at, "rt-2", &c); !errors.Is(err, auth.ErrRefreshReused) {
			t.Fatalf("replay at the interval's end: err = %v, want ErrRefreshReused", err)
		}
		if c.n != 0 {
			t.Fatal("next called on a replay")
		}
		// The family, successor included, is revoked: rt-2 is no longer valid (and no replay).
		if err := rotate(db, auth.HashSecret("rt-2"), at.Add(2*time.Second), nil); !errors.Is(err, auth.ErrInvalidGrant) || errors.Is(err, auth.ErrRefreshReused) {
			t.Fatalf("successor after the family was revoked: err = %v, want ErrInvalidGrant", err)
		}
	})
	t.Run("retry naming another successor", func(t *testing.T) {
		t.Parallel()
		db := newDB(t)
		at := now()
		alice := newUser(t, db, "alice")
		rt := refreshToken(alice.ID, "rt-1", at)
		other := refreshToken(alice.ID, "other", at) // another family's unused token
		for _, x := range []auth.RefreshToken{rt, other} {
			if err := db.CreateRefreshToken(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		var c call
		if err := rotateTo(db, rt.Hash, at, at.Add(-time.Second), "rt-2", &c); err != nil {
			t.Fatal(err)
		}
		c = call{}
		if err := rotateTo(db, rt.Hash, at, at.Add(-time.Second), "other", &c); !errors.Is(err, auth.ErrRefreshReused) || c.n != 0 {
			t.Fatalf("retry naming another family's token: err = %v, next called %d times; want ErrRefreshReused", err, c.n)
		}
		if err := rotate(db, other.Hash, at, nil); err != nil {
			t.Fatalf("the other family was revoked: %v", err)
		}
	})
	t.Run("refused tokens", func(t *testing.T) {
		t.Parallel()
		db := newDB(t)
		at := now()
		alice := newUser(t, db, "alice")
		carol := auth.User{ID: uuid.New(), Username: "carol", PasswordHash: "x", Disabled: true, CreatedAt: at}
		if err := db.CreateUser(ctx, carol); err != nil {
			t.Fatal(err)
		}
		idle := refreshToken(alice.ID, "idle", at.Add(-time.Hour)) // expires_at = at
		family := refreshToken(alice.ID, "family", at)
		family.FamilyExpiresAt = at // absolute expiry = at
		live := refreshToken(alice.ID, "live", at)
		live.ExpiresAt, live.FamilyExpiresAt = at.Add(time.Microsecond), at.Add(time.Microsecond)
		revoked := refreshToken(alice.ID, "revoked", at)
		disabled := refreshToken(carol.ID, "disabled", at)
		for _, x := range []auth.RefreshToken{idle, family, live, revoked, disabled} {
			if err := db.CreateRefreshToken(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.RevokeRefreshFamily(ctx, revoked.Hash, at); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			hash []byte
		}{
			{"idle expiry at now", idle.Hash},
			{"family expiry at now", family.Hash},
			{"revoked", revoked.Hash},
			{"user disabled", disabled.Hash},
			{"unknown", auth.HashSecret("never-issued")},
		} {
			var c call
			err := rotateTo(db, tc.hash, at, at.Add(-time.Second), "next-"+tc.name, &c)
			if !errors.Is(err, auth.ErrInvalidGrant) || errors.Is(err, auth.ErrRefreshReused) || errors.Is(err, auth.ErrUnavailable) || c.n != 0 {
				t.Errorf("%s: err = %v, next called %d times; want ErrInvalidGrant only", tc.name, err, c.n)
			}
		}
		if err := rotate(db, live.Hash, at, nil); err != nil {
			t.Errorf("token expiring a microsecond after now: %v", err)
		}
	})
	t.Run("an error from next rolls back", func(t *testing.T) {
		t.Parallel()
		db := newDB(t)
		at := now()
		alice := newUser(t, db, "alice")
		rt := refreshToken(alice.ID, "rt-1", at)
		if err := db.CreateRefreshToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := db.RotateRefreshToken(ctx, rt.Hash, at, at.Add(-time.Second), nil,
			func(auth.RefreshToken, bool) (auth.RefreshToken, error) { return auth.RefreshToken{}, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want next's error", err)
		}
		if err := rotate(db, rt.Hash, at, nil); err != nil {
			t.Fatalf("token after a rolled-back rotation: %v", err)
		}
		// A successor that cannot be stored (its hash exists) rolls the rotation back too.
		rt3 := refreshToken(alice.ID, "rt-3", at)
		if err := db.CreateRefreshToken(ctx, rt3); err != nil {
			t.Fatal(err)
		}
		err = db.RotateRefreshToken(ctx, rt3.Hash, at, at.Add(-time.Second), nil,
			func(used auth.RefreshToken, _ bool) (auth.RefreshToken, error) {
				return successorOf(used, "rt-3", at), nil
			})
		if err == nil || errors.Is(err, auth.ErrInvalidGrant) || errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("duplicate successor: err = %v, want a plain storage error", err)
		}
		if err := rotate(db, rt3.Hash, at, nil); err != nil {
			t.Fatalf("token after a failed rotation: %v", err)
		}
	})
	t.Run("retry error from next", func(t *testing.T) {
		t.Parallel()
		db := newDB(t)
		at := now()
		alice := newUser(t, db, "alice")
		rt := refreshToken(alice.ID, "rt-1", at)
		if err := db.CreateRefreshToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
		var c call
		if err := rotateTo(db, rt.Hash, at, at.Add(-time.Second), "rt-2", &c); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := db.RotateRefreshToken(ctx, rt.Hash, at, at.Add(-time.Second), auth.HashSecret("rt-2"),
			func(auth.RefreshToken, bool) (auth.RefreshToken, error) { return auth.RefreshToken{}, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("retry: err = %v, want next's error", err)
		}
	})
}

// Revoking a family revokes every token in it, at now, and no other family; an unknown hash
// is no error.
func TestRevokeRefreshFamily(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	alice := newUser(t, db, "alice")
	a1 := refreshToken(alice.ID, "a1", at)
	a2 := successorOf(a1, "a2", at)
	b1 := refreshToken(alice.ID, "b1", at)
	for _, x := range []auth.RefreshToken{a1, a2, b1} {
		if err := db.CreateRefreshToken(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RevokeRefreshFamily(ctx, a1.Hash, at); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeRefreshFamily(ctx, auth.HashSecret("unknown"), at); err != nil {
		t.Fatalf("unknown hash: %v", err)
	}
	for _, h := range [][]byte{a1.Hash, a2.Hash} {
		if err := rotate(db, h, at, nil); !errors.Is(err, auth.ErrInvalidGrant) {
			t.Errorf("revoked family's token: err = %v, want ErrInvalidGrant", err)
		}
	}
	if err := rotate(db, b1.Hash, at, nil); err != nil {
		t.Errorf("other family: %v", err)
	}
}

// Tokens are deleted once their family's absolute lifetime ended before now, not at now.
func TestDeleteExpiredRefreshTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	alice := newUser(t, db, "alice")
	a1 := refreshToken(alice.ID, "a1", at)
	a2 := successorOf(a1, "a2", at)
	b1 := refreshToken(alice.ID, "b1", at)
	b1.FamilyExpiresAt = a1.FamilyExpiresAt.Add(time.Second)
	for _, x := range []auth.RefreshToken{a1, a2, b1} {
		if err := db.CreateRefreshToken(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		now  time.Time
		want int64
	}{
		{a1.FamilyExpiresAt, 0},
		{a1.FamilyExpiresAt.Add(time.Microsecond), 2},
		{b1.FamilyExpiresAt, 0},
		{b1.FamilyExpiresAt.Add(time.Microsecond), 1},
	} {
		n, err := db.DeleteExpiredRefreshTokens(ctx, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("DeleteExpiredRefreshTokens(%v) = %d, want %d", tc.now, n, tc.want)
		}
	}
}

// A storage error that is not about reaching the database is not marked unavailable (a
// 503 would make clients retry forever).
func TestStorageErrorIsNotUnavailable(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	err := db.CreateRefreshToken(context.Background(), refreshToken(uuid.New(), "orphan", now()))
	if err == nil || errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("token of an unknown user: err = %v, want a storage error that is not ErrUnavailable", err)
	}
}
