package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// A person (issuer, subject) is linked to one user; an upstream login state is taken once
// and not at or after its expiry.
func TestIdentityStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	newUser(t, db, "taken")
	u := auth.User{ID: uuid.New(), Username: "alice", CreatedAt: at}
	id := auth.Identity{Issuer: "https://idp", Subject: "sub-1", Email: "a@example.com", CreatedAt: at}
	if err := db.CreateUserWithIdentity(ctx, u, id); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUserWithIdentity(ctx, auth.User{ID: uuid.New(), Username: "taken", CreatedAt: at},
		auth.Identity{Issuer: "https://idp", Subject: "sub-2", CreatedAt: at}); !errors.Is(err, auth.ErrUsernameTaken) {
		t.Fatalf("taken username: err = %v, want ErrUsernameTaken", err)
	}
	if _, err := db.UserByIdentity(ctx, "https://idp", "sub-2"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("identity of a refused user was stored: %v", err)
	}
	// The same person again under another username: refused, and that user is not created.
	if err := db.CreateUserWithIdentity(ctx, auth.User{ID: uuid.New(), Username: "alice2", CreatedAt: at}, id); err == nil || errors.Is(err, auth.ErrUsernameTaken) {
		t.Fatalf("second link of one person: err = %v, want a storage error", err)
	}
	if _, err := db.UserByUsername(ctx, "alice2"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("user of a refused link was created: %v", err)
	}
	got, err := db.UserByIdentity(ctx, "https://idp", "sub-1")
	if err != nil || got.ID != u.ID || got.Username != "alice" {
		t.Fatalf("UserByIdentity = %+v, %v", got, err)
	}
	for _, k := range [][2]string{{"https://idp", "SUB-1"}, {"https://other", "sub-1"}} {
		if _, err := db.UserByIdentity(ctx, k[0], k[1]); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("UserByIdentity(%v): err = %v, want ErrNotFound", k, err)
		}
	}
	ids, err := db.Identities(ctx, u.ID)
	if err != nil || len(ids) != 1 || ids[0].Subject != "sub-1" || ids[0].Email != "a@example.com" || ids[0].UserID != u.ID {
		t.Fatalf("Identities = %+v, %v", ids, err)
	}

	for _, s := range []string{"st-1", "st-2", "st-3"} {
		if err := db.SaveUpstreamLogin(ctx, auth.UpstreamLogin{StateHash: auth.HashSecret(s), Provider: "idp", Nonce: "n-" + s,
			Verifier: "v", ReturnTo: "/r", UserID: &u.ID, CreatedAt: at.Add(-time.Minute), ExpiresAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := db.TakeUpstreamLogin(ctx, auth.HashSecret("st-1"), at.Add(-time.Microsecond))
	if err != nil || l.Nonce != "n-st-1" || l.UserID == nil || *l.UserID != u.ID || !l.ExpiresAt.Equal(at) {
		t.Fatalf("TakeUpstreamLogin before expiry = %+v, %v", l, err)
	}
	for _, tc := range []struct {
		name  string
		state string
	}{{"taken before", "st-1"}, {"at expiry", "st-2"}, {"unknown", "st-9"}} {
		if _, err := db.TakeUpstreamLogin(ctx, auth.HashSecret(tc.state), at); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("TakeUpstreamLogin %s: err = %v, want ErrNotFound", tc.name, err)
		}
	}
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{{at, 0}, {at.Add(time.Microsecond), 1}} {
		if n, err := db.DeleteExpiredUpstreamLogins(ctx, tc.t); err != nil || n != tc.want {
			t.Errorf("DeleteExpiredUpstreamLogins(%v) = %d, %v; want %d", tc.t, n, err, tc.want)
		}
	}
}

// Invitation and reset links work once and only before their expiry; a reset clears the
// password and ends every sign-in when made, and a newer reset link voids an older one.
func TestInvitationStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	bob := newUser(t, db, "bob")
	rt := refreshToken(bob.ID, "bob-rt", at)
	if err := db.CreateRefreshToken(ctx, rt); err != nil {
		t.Fatal(err)
	}
	newSession(t, db, bob.ID, "bob-s", at.Add(time.Hour))
	invite := func(secret, kind string, user *uuid.UUID, expires time.Time) {
		t.Helper()
		inv := auth.Invitation{ID: uuid.New(), Kind: kind, UserID: user, CreatedBy: "admin", CreatedAt: at, ExpiresAt: expires}
		if err := db.CreateInvitation(ctx, inv, auth.HashSecret(secret), at); err != nil {
			t.Fatal(err)
		}
	}
	invite("inv-1", auth.InviteKind, nil, at.Add(time.Hour))
	invite("inv-2", auth.InviteKind, nil, at)
	invite("reset-1", auth.ResetKind, &bob.ID, at.Add(time.Hour))
	if l, err := db.ListInvitations(ctx); err != nil || len(l) != 3 {
		t.Errorf("ListInvitations: %d invitations, %v; want the 3 made", len(l), err)
	}
	if u, _ := db.UserByUsername(ctx, "bob"); u.PasswordHash != "" {
		t.Errorf("password after a reset link was made: %q, want cleared", u.PasswordHash)
	}
	if err := rotate(db, rt.Hash, at, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Errorf("refresh token after a reset link: err = %v, want ErrInvalidGrant", err)
	}
	if _, err := db.SessionUser(ctx, auth.HashSecret("bob-s"), at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("session after a reset link: err = %v, want ErrNotFound", err)
	}
	nobody := uuid.New()
	if err := db.CreateInvitation(ctx, auth.Invitation{ID: uuid.New(), Kind: auth.ResetKind, UserID: &nobody, CreatedAt: at, ExpiresAt: at.Add(time.Hour)},
		auth.HashSecret("reset-x"), at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("reset of an unknown user: err = %v, want ErrNotFound", err)
	}
	later := at.Add(time.Second)
	if _, err := db.InvitationByHash(ctx, auth.HashSecret("reset-1"), later); err != nil {
		t.Fatalf("InvitationByHash(reset-1): %v", err)
	}
	invite("reset-2", auth.ResetKind, &bob.ID, at.Add(time.Hour))
	if _, err := db.InvitationByHash(ctx, auth.HashSecret("reset-1"), later); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("older reset link after a newer one: err = %v, want ErrNotFound", err)
	}
	if i, err := db.InvitationByHash(ctx, auth.HashSecret("inv-2"), at.Add(-time.Microsecond)); err != nil || i.Kind != auth.InviteKind {
		t.Errorf("invitation before expiry = %+v, %v", i, err)
	}
	if _, err := db.InvitationByHash(ctx, auth.HashSecret("inv-2"), at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("invitation at expiry: err = %v, want ErrNotFound", err)
	}

	carol := auth.User{ID: uuid.New(), Username: "carol", PasswordHash: "h", CreatedAt: at}
	if err := db.AcceptInvitation(ctx, auth.HashSecret("inv-1"), at, carol, nil); err != nil {
		t.Fatal(err)
	}
	if u, err := db.UserByUsername(ctx, "carol"); err != nil || u.ID != carol.ID {
		t.Fatalf("invited user = %+v, %v", u, err)
	}
	dave := auth.User{ID: uuid.New(), Username: "dave", CreatedAt: at}
	for name, hash := range map[string]string{"used": "inv-1", "expired": "inv-2", "a reset": "reset-2", "unknown": "inv-9"} {
		if err := db.AcceptInvitation(ctx, auth.HashSecret(hash), at, dave, nil); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("AcceptInvitation(%s): err = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := db.UserByUsername(ctx, "dave"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("dave was created: %v", err)
	}

	if _, err := db.AcceptReset(ctx, auth.HashSecret("inv-1"), at, "p"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("AcceptReset(invitation): err = %v, want ErrNotFound", err)
	}
	// Sign-ins made while the reset link was out (its creation ended the earlier ones) end
	// when it is used: whoever held them may be who the reset locks out.
	rt2 := refreshToken(bob.ID, "bob-rt-2", at)
	if err := db.CreateRefreshToken(ctx, rt2); err != nil {
		t.Fatal(err)
	}
	newSession(t, db, bob.ID, "bob-s-2", at.Add(time.Hour))
	u, err := db.AcceptReset(ctx, auth.HashSecret("reset-2"), at, "new-hash")
	if err != nil || u.ID != bob.ID || u.PasswordHash != "new-hash" {
		t.Fatalf("AcceptReset = %+v, %v", u, err)
	}
	if err := rotate(db, rt2.Hash, at, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Errorf("refresh token after the reset was used: err = %v, want ErrInvalidGrant", err)
	}
	if _, err := db.SessionUser(ctx, auth.HashSecret("bob-s-2"), at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("session after the reset was used: err = %v, want ErrNotFound", err)
	}
	if _, err := db.AcceptReset(ctx, auth.HashSecret("reset-2"), at, "again"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("second AcceptReset: err = %v, want ErrNotFound", err)
	}
	invs, err := db.ListInvitations(ctx)
	if err != nil || len(invs) != 4 {
		t.Fatalf("ListInvitations = %d, %v; want 4", len(invs), err)
	}
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{{at, 0}, {at.Add(time.Microsecond), 2}, {at.Add(time.Hour), 0}, {at.Add(time.Hour + time.Microsecond), 2}} {
		// inv-2 expires at `at`, reset-1 was expired at `at` by reset-2; the others an hour later.
		if n, err := db.DeleteExpiredInvitations(ctx, tc.t); err != nil || n != tc.want {
			t.Errorf("DeleteExpiredInvitations(%v) = %d, %v; want %d", tc.t, n, err, tc.want)
		}
	}

	// An unused invitation can be revoked, once; a used one cannot.
	invite("inv-3", auth.InviteKind, nil, at.Add(2*time.Hour))
	inv3, err := db.InvitationByHash(ctx, auth.HashSecret("inv-3"), at)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.RevokeInvitation(ctx, inv3.ID); err != nil || got.ID != inv3.ID || got.Kind != auth.InviteKind {
		t.Errorf("RevokeInvitation(unused) = %+v, %v", got, err)
	}
	if _, err := db.InvitationByHash(ctx, auth.HashSecret("inv-3"), at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("a revoked invitation is still found: %v", err)
	}
	if _, err := db.RevokeInvitation(ctx, inv3.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("second RevokeInvitation: err = %v, want ErrNotFound", err)
	}
	invite("inv-4", auth.InviteKind, nil, at.Add(2*time.Hour))
	inv4, err := db.InvitationByHash(ctx, auth.HashSecret("inv-4"), at)
	if err != nil {
		t.Fatal(err)
	}
	erin := auth.User{ID: uuid.New(), Username: "erin", PasswordHash: "h", CreatedAt: at}
	if err := db.AcceptInvitation(ctx, auth.HashSecret("inv-4"), at, erin, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeInvitation(ctx, inv4.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("RevokeInvitation(used): err = %v, want ErrNotFound", err)
	}
}

// A person sees their live sign-ins and ends only their own.
func TestAccountStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	alice := newUser(t, db, "alice")
	bob := newUser(t, db, "bob")
	if u, err := db.AccountUserByID(ctx, alice.ID); err != nil || u.Username != "alice" {
		t.Fatalf("AccountUserByID = %+v, %v", u, err)
	}
	if _, err := db.AccountUserByID(ctx, uuid.New()); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("AccountUserByID(unknown): err = %v", err)
	}
	live := refreshToken(alice.ID, "live", at)
	idle := refreshToken(alice.ID, "idle", at.Add(-time.Hour)) // idle expiry at `at`
	for _, x := range []auth.RefreshToken{live, idle} {
		if err := db.CreateRefreshToken(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	newSession(t, db, alice.ID, "s-live", at.Add(time.Hour))
	newSession(t, db, alice.ID, "s-old", at)
	got, err := db.ListSignIns(ctx, alice.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "f-"+live.FamilyID.String() || got[0].Kind != "token" || got[1].Kind != "browser" {
		t.Fatalf("ListSignIns = %+v, want the live family then the live session", got)
	}
	if err := db.EndRefreshFamily(ctx, bob.ID, live.FamilyID, at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("ending another user's family: err = %v, want ErrNotFound", err)
	}
	if err := db.EndRefreshFamily(ctx, alice.ID, live.FamilyID, at); err != nil {
		t.Fatal(err)
	}
	if err := db.EndRefreshFamily(ctx, alice.ID, live.FamilyID, at); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("ending a family twice: err = %v, want ErrNotFound", err)
	}
	if err := db.EndUserSession(ctx, bob.ID, auth.HashSecret("s-live")); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("ending another user's session: err = %v, want ErrNotFound", err)
	}
	if err := db.EndUserSession(ctx, alice.ID, auth.HashSecret("s-live")); err != nil {
		t.Fatal(err)
	}
	if got, err := db.ListSignIns(ctx, alice.ID, at); err != nil || len(got) != 0 {
		t.Fatalf("ListSignIns after ending both = %+v, %v", got, err)
	}
}
