package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

func newSession(t *testing.T, db dbT, user uuid.UUID, secret string, expires time.Time) {
	t.Helper()
	if err := db.CreateSession(context.Background(), auth.Session{Hash: auth.HashSecret(secret), UserID: user,
		CreatedAt: expires.Add(-time.Hour), ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
}

// A session names its user until it expires (not at its expiry), unless the user is
// disabled or the session deleted.
func TestSessionUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	alice := newUser(t, db, "alice")
	carol := auth.User{ID: uuid.New(), Username: "carol", PasswordHash: "x", Disabled: true, CreatedAt: at}
	if err := db.CreateUser(ctx, carol); err != nil {
		t.Fatal(err)
	}
	newSession(t, db, alice.ID, "s1", at)
	newSession(t, db, alice.ID, "s2", at.Add(time.Hour))
	newSession(t, db, carol.ID, "s3", at.Add(time.Hour))

	got, err := db.SessionUser(ctx, auth.HashSecret("s1"), at.Add(-time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != alice.ID || got.Username != "alice" || got.PasswordHash != "x" || got.Disabled {
		t.Fatalf("SessionUser = %+v, want alice", got)
	}
	for _, tc := range []struct {
		name   string
		secret string
	}{
		{"expires at now", "s1"},
		{"user disabled", "s3"},
		{"unknown", "s4"},
	} {
		if _, err := db.SessionUser(ctx, auth.HashSecret(tc.secret), at); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", tc.name, err)
		}
	}
	if err := db.DeleteSession(ctx, auth.HashSecret("s2")); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, auth.HashSecret("s2")); err != nil {
		t.Fatalf("deleting an unknown session: %v", err)
	}
	if _, err := db.SessionUser(ctx, auth.HashSecret("s2"), at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("deleted session: err = %v, want ErrNotFound", err)
	}
}

// Expired sessions and codes are deleted once they expired before t, not at t.
func TestDeleteExpiredSessionsAndCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	alice := newUser(t, db, "alice")
	if err := db.CreateClient(ctx, auth.Client{ID: "app", Scopes: []string{"files:read"}, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	for i, exp := range []time.Time{at, at, at.Add(time.Second)} {
		secret := string(rune('a' + i))
		newSession(t, db, alice.ID, secret, exp)
		if err := db.CreateCode(ctx, auth.AuthCode{Hash: auth.HashSecret(secret), ClientID: "app", UserID: alice.ID,
			RedirectURI: "https://a/cb", CodeChallenge: "c", Scope: "files:read", CreatedAt: at.Add(-time.Minute), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{at, 0},
		{at.Add(time.Microsecond), 2},
		{at.Add(time.Second), 0},
		{at.Add(time.Second + time.Microsecond), 1},
	} {
		n, err := db.DeleteExpiredSessions(ctx, tc.t)
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("DeleteExpiredSessions(%v) = %d, want %d", tc.t, n, tc.want)
		}
		n, err = db.DeleteExpiredCodes(ctx, tc.t)
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("DeleteExpiredCodes(%v) = %d, want %d", tc.t, n, tc.want)
		}
	}
}

// The refresh token a code was exchanged for is stored once, with the code's family
// recorded: a replay of the code then revokes it. A replayed code, one already exchanged, an
// unknown one or a disabled user's is ErrInvalidGrant and stores nothing.
func TestStoreCodeTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	alice := newUser(t, db, "alice")
	carol := newUser(t, db, "carol")
	if err := db.CreateClient(ctx, auth.Client{ID: "app", Scopes: []string{"files:read"}, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	code := func(secret string, user uuid.UUID) []byte {
		h := auth.HashSecret(secret)
		if err := db.CreateCode(ctx, auth.AuthCode{Hash: h, ClientID: "app", UserID: user, RedirectURI: "https://a/cb",
			CodeChallenge: "c", Scope: "files:read", CreatedAt: at, ExpiresAt: at.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ConsumeCode(ctx, h, at); err != nil {
			t.Fatal(err)
		}
		return h
	}
	good := code("good", alice.ID)
	replayed := code("replayed", alice.ID)
	if _, err := db.ConsumeCode(ctx, replayed, at); !errors.Is(err, auth.ErrCodeReused) {
		t.Fatal(err)
	}
	disabled := code("disabled", carol.ID)
	if err := db.DisableUser(ctx, "carol", at); err != nil {
		t.Fatal(err)
	}

	rt := refreshToken(alice.ID, "rt-good", at)
	if err := db.StoreCodeTokens(ctx, good, rt); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hash []byte
		user uuid.UUID
	}{
		{"exchanged before", good, alice.ID},
		{"replayed", replayed, alice.ID},
		{"user disabled", disabled, carol.ID},
		{"unknown", auth.HashSecret("unknown"), alice.ID},
	} {
		other := refreshToken(tc.user, "rt-"+tc.name, at)
		if err := db.StoreCodeTokens(ctx, tc.hash, other); !errors.Is(err, auth.ErrInvalidGrant) {
			t.Errorf("%s: err = %v, want ErrInvalidGrant", tc.name, err)
		}
		if err := rotate(db, other.Hash, at, nil); !errors.Is(err, auth.ErrInvalidGrant) {
			t.Errorf("%s: the refresh token was stored (rotate err = %v)", tc.name, err)
		}
	}
	// The stored token works until the code is replayed; the replay revokes its family.
	rt2 := successorOf(rt, "rt-good-2", at)
	err := db.RotateRefreshToken(ctx, rt.Hash, at, at.Add(-time.Second), nil,
		func(auth.RefreshToken, bool) (auth.RefreshToken, error) { return rt2, nil })
	if err != nil {
		t.Fatalf("exchanged token: %v", err)
	}
	if _, err := db.ConsumeCode(ctx, good, at); !errors.Is(err, auth.ErrCodeReused) {
		t.Fatalf("replay: err = %v, want ErrCodeReused", err)
	}
	if err := rotate(db, rt2.Hash, at, nil); !errors.Is(err, auth.ErrInvalidGrant) || errors.Is(err, auth.ErrRefreshReused) {
		t.Fatalf("the family's token after the code's replay: err = %v, want ErrInvalidGrant", err)
	}
}
