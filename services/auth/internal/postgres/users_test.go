package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// now returns a time PostgreSQL stores exactly (microseconds), so boundaries compare equal.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// A username is taken once; lookups return the stored user or ErrNotFound.
func TestCreateUserAndLookup(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := context.Background()
	created := now()
	alice := auth.User{ID: uuid.New(), Username: "alice", PasswordHash: "hash-a", Disabled: true, CreatedAt: created}
	if err := db.CreateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	err := db.CreateUser(ctx, auth.User{ID: uuid.New(), Username: "alice", PasswordHash: "y", CreatedAt: created})
	if !errors.Is(err, auth.ErrUsernameTaken) {
		t.Fatalf("duplicate username: err = %v, want ErrUsernameTaken", err)
	}
	// The same id under another name is a storage error, not a taken username.
	if err := db.CreateUser(ctx, auth.User{ID: alice.ID, Username: "alias", CreatedAt: created}); err == nil {
		t.Fatal("duplicate id accepted")
	}
	got, err := db.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != alice.ID || got.Username != "alice" || got.PasswordHash != "hash-a" || !got.Disabled || !got.CreatedAt.Equal(created) {
		t.Fatalf("UserByUsername = %+v, want %+v", got, alice)
	}
	for _, name := range []string{"bob", "Alice", "alice ", ""} {
		if _, err := db.UserByUsername(ctx, name); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("UserByUsername(%q): err = %v, want ErrNotFound", name, err)
		}
	}
}

// Disabling a user or changing their password revokes their refresh tokens and ends their
// sessions, and touches nobody else; an unknown user is ErrNotFound.
func TestChangeUserRevokes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(db dbT, username string, at time.Time) error
		check  func(t *testing.T, u auth.User)
	}{
		{"disable", func(db dbT, n string, at time.Time) error { return db.DisableUser(ctx, n, at) },
			func(t *testing.T, u auth.User) {
				if !u.Disabled || u.PasswordHash != "x" {
					t.Errorf("after DisableUser: %+v, want disabled with the old hash", u)
				}
			}},
		{"password", func(db dbT, n string, at time.Time) error { return db.SetPasswordHash(ctx, n, "new-hash", at) },
			func(t *testing.T, u auth.User) {
				if u.Disabled || u.PasswordHash != "new-hash" {
					t.Errorf("after SetPasswordHash: %+v, want enabled with the new hash", u)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := newDB(t)
			at := now()
			alice := newUser(t, db, "alice")
			bob := newUser(t, db, "bob")
			aliceRT := refreshToken(alice.ID, "alice-rt", at)
			bobRT := refreshToken(bob.ID, "bob-rt", at)
			for _, rt := range []auth.RefreshToken{aliceRT, bobRT} {
				if err := db.CreateRefreshToken(ctx, rt); err != nil {
					t.Fatal(err)
				}
			}
			newSession(t, db, alice.ID, "alice-s", at.Add(time.Hour))
			newSession(t, db, bob.ID, "bob-s", at.Add(time.Hour))

			if err := tc.change(db, "alice", at); err != nil {
				t.Fatal(err)
			}
			if err := tc.change(db, "carol", at); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("unknown user: err = %v, want ErrNotFound", err)
			}
			u, err := db.UserByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, u)
			if b, _ := db.UserByUsername(ctx, "bob"); b.Disabled || b.PasswordHash != "x" {
				t.Errorf("bob changed too: %+v", b)
			}
			// Alice's token is revoked (not used: presenting it is no replay).
			if err := rotate(db, aliceRT.Hash, at, nil); !errors.Is(err, auth.ErrInvalidGrant) || errors.Is(err, auth.ErrRefreshReused) {
				t.Errorf("alice's refresh token after the change: err = %v, want ErrInvalidGrant", err)
			}
			if _, err := db.SessionUser(ctx, auth.HashSecret("alice-s"), at); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("alice's session after the change: err = %v, want ErrNotFound", err)
			}
			if err := rotate(db, bobRT.Hash, at, nil); err != nil {
				t.Errorf("bob's refresh token: %v", err)
			}
			if got, err := db.SessionUser(ctx, auth.HashSecret("bob-s"), at); err != nil || got.ID != bob.ID {
				t.Errorf("bob's session: %+v, %v", got, err)
			}
		})
	}
}
