package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

func login(t *testing.T, svc *auth.Service, name, pw string, scopes ...string) auth.TokenResponse {
	t.Helper()
	tok, err := svc.Login(context.Background(), auth.LoginRequest{Username: name, Password: pw, Scopes: scopes, Address: "192.0.2.1"})
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return tok
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	pw := e.user(svc, "alice")
	first := login(t, svc, "alice", pw)
	sub := e.claims(first.AccessToken).Subject

	second, err := svc.Refresh(ctx, first.RefreshToken, nil)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh token not rotated: %q", second.RefreshToken)
	}
	if c := e.claims(first.AccessToken); c.PreferredUsername != "alice" {
		t.Fatalf("login's preferred_username = %q, want alice", c.PreferredUsername)
	}
	if c := e.claims(second.AccessToken); c.Subject != sub || c.ClientID != auth.FirstPartyClientID || c.Scope != first.Scope || c.PreferredUsername != "alice" {
		t.Fatalf("refreshed claims sub=%q client_id=%q scope=%q preferred_username=%q, want %q %q %q alice", c.Subject, c.ClientID, c.Scope, c.PreferredUsername, sub, auth.FirstPartyClientID, first.Scope)
	}
	third, err := svc.Refresh(ctx, second.RefreshToken, nil)
	if err != nil {
		t.Fatalf("second refresh: %v", err)
	}

	// Replaying the first (used) token revokes the whole family, including the newest token.
	if _, err := svc.Refresh(ctx, first.RefreshToken, nil); !errors.Is(err, auth.ErrRefreshReused) {
		t.Fatalf("replay of a used token = %v, want ErrRefreshReused", err)
	}
	if _, err := svc.Refresh(ctx, third.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("newest token after reuse = %v, want ErrInvalidGrant (family revoked)", err)
	}
	// Another login (another family) is unaffected.
	other := login(t, svc, "alice", pw)
	if _, err := svc.Refresh(ctx, other.RefreshToken, nil); err != nil {
		t.Fatalf("refresh in an unrelated family: %v", err)
	}

	// Only the hash is stored.
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE token_hash = $1::text::bytea OR encode(token_hash, 'escape') = $1`, other.RefreshToken).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refresh token stored in clear (%d rows, %v)", n, err)
	}
	for _, bad := range []string{"", "short", first.RefreshToken + "x", third.AccessToken} {
		if _, err := svc.Refresh(ctx, bad, nil); !errors.Is(err, auth.ErrInvalidGrant) {
			t.Fatalf("refresh(%.20q) = %v, want ErrInvalidGrant", bad, err)
		}
	}
}

func TestRefreshNarrowsScope(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	pw := e.user(svc, "bob")
	tok := login(t, svc, "bob", pw, "files:read", "files:write")

	// A scope outside the family's fails and does not use the token up.
	if _, err := svc.Refresh(ctx, tok.RefreshToken, []string{"files:share"}); !errors.Is(err, auth.ErrInvalidScope) {
		t.Fatalf("refresh widening scope = %v, want ErrInvalidScope", err)
	}
	narrow, err := svc.Refresh(ctx, tok.RefreshToken, []string{"files:read"})
	if err != nil {
		t.Fatalf("refresh narrowing scope: %v", err)
	}
	if got := e.claims(narrow.AccessToken).Scope; got != "files:read" || narrow.Scope != "files:read" {
		t.Fatalf("narrowed scope = %q / %q, want files:read", got, narrow.Scope)
	}
	// The family keeps its scope: the next refresh may ask for write again.
	again, err := svc.Refresh(ctx, narrow.RefreshToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.claims(again.AccessToken).Scope; got != "files:read files:write" {
		t.Fatalf("scope after narrowing once = %q, want the family's files:read files:write", got)
	}
}

func TestRefreshLifetimes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{RefreshIdleTTL: time.Hour, RefreshTTL: 3 * time.Hour}, cheap)
	pw := e.user(svc, "carol")

	// Idle: a token unused for longer than the idle lifetime is dead.
	idle := login(t, svc, "carol", pw)
	e.clock.Add(61 * time.Minute)
	if _, err := svc.Refresh(ctx, idle.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("refresh after idle lifetime = %v, want ErrInvalidGrant", err)
	}

	// Absolute: used often enough never to idle out, the family still ends after 3h.
	tok := login(t, svc, "carol", pw)
	var err error
	for i := range 3 {
		e.clock.Add(50 * time.Minute)
		if tok, err = svc.Refresh(ctx, tok.RefreshToken, nil); err != nil {
			t.Fatalf("refresh %d within lifetimes: %v", i, err)
		}
	}
	e.clock.Add(31 * time.Minute) // 3h01m after login, 31m after the last refresh
	if _, err := svc.Refresh(ctx, tok.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("refresh after the absolute lifetime = %v, want ErrInvalidGrant", err)
	}
}

// TestRefreshParallelUseSucceedsOnce races many uses of one token, through two Service
// instances (two replicas) on one database.
func TestRefreshParallelUseSucceedsOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.service(auth.Config{}, cheap), e.service(auth.Config{}, cheap)
	pw := e.user(a, "dave")
	for round := range 5 {
		tok := login(t, a, "dave", pw)
		const n = 16
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := a
				if i%2 == 1 {
					svc = b
				}
				<-start
				_, errs[i] = svc.Refresh(ctx, tok.RefreshToken, nil)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, auth.ErrInvalidGrant):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of %d parallel refreshes succeeded, want exactly 1", round, ok, n)
		}
	}
}

func TestRevokeEndsFamily(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	pw := e.user(svc, "erin")
	first := login(t, svc, "erin", pw)
	second, err := svc.Refresh(ctx, first.RefreshToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	keep := login(t, svc, "erin", pw)
	// Revoking an old member of the family ends the newest one too.
	if err := svc.Revoke(ctx, first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Refresh(ctx, second.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("refresh after revocation = %v, want ErrInvalidGrant", err)
	}
	if _, err := svc.Refresh(ctx, keep.RefreshToken, nil); err != nil {
		t.Fatalf("other session after revocation: %v", err)
	}
	for _, tok := range []string{"", "x", "unknown-token-unknown-token-unknown-token", first.AccessToken} {
		if err := svc.Revoke(ctx, tok); err != nil {
			t.Fatalf("revoke(%.20q) = %v, want nil (RFC 7009)", tok, err)
		}
	}
}

func TestDisableAndPasswordChangeEndSessions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	pwF := e.user(svc, "frank")
	pwG := e.user(svc, "grace")
	f := login(t, svc, "frank", pwF)
	g := login(t, svc, "grace", pwG)

	if err := svc.DisableUser(ctx, "frank"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Refresh(ctx, f.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("refresh of a disabled user = %v, want ErrInvalidGrant", err)
	}
	if _, err := svc.Login(ctx, auth.LoginRequest{Username: "frank", Password: pwF}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("login of a disabled user = %v, want ErrInvalidCredentials", err)
	}
	if err := svc.DisableUser(ctx, "nobody"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("disable unknown user = %v, want ErrNotFound", err)
	}

	if err := svc.SetPassword(ctx, "grace", "a-brand-new-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Refresh(ctx, g.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("refresh after password change = %v, want ErrInvalidGrant", err)
	}
	if _, err := svc.Login(ctx, auth.LoginRequest{Username: "grace", Password: pwG}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("login with the old password = %v", err)
	}
	login(t, svc, "grace", "a-brand-new-password")
}
