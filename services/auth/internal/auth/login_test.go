package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
	"github.com/cofferhq/coffer/services/auth/internal/password"
)

func TestClientCredentials(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	c, secret, err := svc.CreateClient(ctx, "backup-job", []string{"files:read", "files:write"})
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < 43 || slices.Contains([]string{string(c.SecretHash)}, secret) {
		t.Fatalf("secret %q too short or stored in clear", secret)
	}
	if _, _, err := svc.CreateClient(ctx, "backup-job", []string{"files:read"}); !errors.Is(err, auth.ErrClientExists) {
		t.Fatalf("duplicate client = %v, want ErrClientExists", err)
	}

	tests := []struct {
		name      string
		id        string
		secret    string
		scopes    []string
		wantScope string
		wantErr   error
	}{
		{"all allowed scopes by default", "backup-job", secret, nil, "files:read files:write", nil},
		{"narrowed", "backup-job", secret, []string{"files:read"}, "files:read", nil},
		{"scope not allowed", "backup-job", secret, []string{"files:read", "files:share"}, "", auth.ErrInvalidScope},
		{"unknown scope", "backup-job", secret, []string{"admin"}, "", auth.ErrInvalidScope},
		{"wrong secret", "backup-job", secret[:len(secret)-1] + "x", nil, "", auth.ErrInvalidClient},
		{"empty secret", "backup-job", "", nil, "", auth.ErrInvalidClient},
		{"unknown client", "no-such-client", secret, nil, "", auth.ErrInvalidClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := svc.ClientCredentials(ctx, tc.id, tc.secret, tc.scopes)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if tok.RefreshToken != "" {
				t.Fatal("client_credentials issued a refresh token")
			}
			cl := e.claims(tok.AccessToken)
			if cl.Subject != "client:backup-job" || cl.ClientID != "backup-job" || cl.Scope != tc.wantScope || tok.Scope != tc.wantScope {
				t.Fatalf("claims sub=%q client_id=%q scope=%q (response %q), want client:backup-job backup-job %q", cl.Subject, cl.ClientID, cl.Scope, tok.Scope, tc.wantScope)
			}
			if cl.PreferredUsername != "" {
				t.Fatalf("a client's own token names a user: preferred_username %q", cl.PreferredUsername)
			}
		})
	}
}

// TestLoginThrottleSharedAcrossReplicas: two Service instances on one database share the
// per-account and per-address counts; the block ends with its window.
func TestLoginThrottleSharedAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cfg := auth.Config{LoginWindow: time.Minute, PairAttempts: 2, AccountAttempts: 3, AddressAttempts: 6}
	a, b := e.service(cfg, cheap), e.service(cfg, cheap)
	pw := e.user(a, "heidi")
	try := func(svc *auth.Service, user, pw, addr string) error {
		_, err := svc.Login(ctx, auth.LoginRequest{Username: user, Password: pw, Address: addr})
		return err
	}

	// Per account: 3 failures, spread over both replicas and two addresses.
	for i, svc := range []*auth.Service{a, b, a} {
		if err := try(svc, "heidi", "wrong-password", []string{"198.51.100.1", "198.51.100.2"}[i%2]); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("failure %d = %v, want ErrInvalidCredentials", i, err)
		}
	}
	err := try(b, "heidi", pw, "198.51.100.3") // even the right password, from a new address
	var th *auth.ThrottledError
	if !errors.As(err, &th) || !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("4th attempt = %v, want *ThrottledError", err)
	}
	if th.RetryAfter <= 0 || th.RetryAfter > time.Minute {
		t.Fatalf("RetryAfter = %v, want within the 1m window", th.RetryAfter)
	}
	// Unknown usernames are throttled the same way (no enumeration through 429s).
	for range 3 {
		try(a, "nobody", "wrong-password", "198.51.100.9")
	}
	if err := try(b, "nobody", "wrong-password", "198.51.100.9"); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("unknown user, 4th attempt = %v, want ErrThrottled", err)
	}

	// Time-windowed: after the window the real user gets in, and success clears the count.
	e.clock.Add(61 * time.Second)
	if err := try(a, "heidi", pw, "198.51.100.3"); err != nil {
		t.Fatalf("login after the window: %v", err)
	}

	// Per address: one address trying many usernames.
	for i := range 6 {
		if err := try([]*auth.Service{a, b}[i%2], "user"+string(rune('a'+i))+"x", "wrong-password", "203.0.113.7"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("address failure %d = %v", i, err)
		}
	}
	if err := try(a, "heidi", pw, "203.0.113.7"); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("7th attempt from one address = %v, want ErrThrottled", err)
	}
	if err := try(b, "heidi", pw, "203.0.113.8"); err != nil {
		t.Fatalf("another address is not throttled: %v", err)
	}

	// A single stranger guessing a password blocks only themselves: after their two failures
	// they get 429, and the real user, from her own address, still logs in (the account-wide
	// limit, default 50, is for guessers spread over many addresses).
	c := e.service(auth.Config{LoginWindow: time.Minute, PairAttempts: 2}, cheap)
	ivyPW := e.user(c, "ivy")
	for range 2 {
		try(c, "ivy", "stranger-guess", "198.51.100.66")
	}
	if err := try(c, "ivy", "stranger-guess", "198.51.100.66"); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("stranger's 3rd guess = %v, want ErrThrottled", err)
	}
	if err := try(c, "ivy", ivyPW, "198.51.100.77"); err != nil {
		t.Fatalf("the real user is locked out by a stranger: %v", err)
	}
}

// TestLoginTimingUnknownUserEqualsWrongPassword compares the CPU time the process spends on
// a login (argon2 runs on its own goroutine, so the whole process is measured; the test does
// nothing else meanwhile) for an unknown user and for a wrong password, with argon2 costing
// far more than the rest of a login (4 MiB: a fifth of production's memory and half its
// passes, so the package's tests, run once per mutant by make mutate, stay quick). Without the
// dummy hash an unknown user costs almost nothing and this fails. CPU time, unlike wall time, does not depend on how busy the shared machine is.
func TestLoginTimingUnknownUserEqualsWrongPassword(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	params := password.Params{Memory: 4 * 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	svc := e.service(auth.Config{PairAttempts: 1000, AccountAttempts: 1000, AddressAttempts: 1000}, params)
	e.user(svc, "ivan")

	cpu := func(user string) time.Duration {
		before := processCPU(t)
		_, err := svc.Login(ctx, auth.LoginRequest{Username: user, Password: "definitely-wrong", Address: "192.0.2.50"})
		after := processCPU(t)
		if !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("login %s = %v, want ErrInvalidCredentials", user, err)
		}
		return after - before
	}
	var unknown, wrong []time.Duration
	for i := range 7 {
		unknown = append(unknown, cpu("nobody"+strings.Repeat("x", i)))
		wrong = append(wrong, cpu("ivan"))
	}
	mu, mw := median(unknown), median(wrong)
	t.Logf("median process CPU: unknown user %v, wrong password %v", mu, mw)
	if mu*3 < mw || mw*3 < mu {
		t.Fatalf("unknown user costs %v of CPU, wrong password %v: not within 3x", mu, mw)
	}
}

func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestLoginStormIsBounded: with one hashing slot and a short wait, a burst of logins gets
// ErrBusy (503) for those that cannot get a slot, instead of queueing argon2 work without
// bound; the busy attempts do not count towards throttling.
func TestLoginStormIsBounded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	st := auth.Stores{Users: e.db, Refresh: e.db, Clients: e.db, Throttle: e.db}
	issuer := keys.NewIssuer(e.keys, "https://auth.test", "coffer-files", time.Minute, nil)
	svc := auth.NewService(st, password.NewHasher(password.DefaultParams, 1), issuer,
		auth.Config{HashWait: 20 * time.Millisecond, PairAttempts: 1000, AccountAttempts: 1000, AddressAttempts: 1000}, e.clock.Now)
	const n = 12
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := svc.Login(ctx, auth.LoginRequest{Username: "nobody", Password: "wrong-password", Address: "192.0.2.9"})
			errs <- err
		}()
	}
	busy := 0
	for range n {
		switch err := <-errs; {
		case errors.Is(err, auth.ErrBusy):
			busy++
		case !errors.Is(err, auth.ErrInvalidCredentials):
			t.Fatalf("storm login = %v", err)
		}
	}
	if busy == 0 {
		t.Fatalf("none of %d concurrent logins on one hashing slot was refused as busy", n)
	}
	var attempts int
	if err := e.pool.QueryRow(ctx, `SELECT attempts FROM login_throttle WHERE key = 'account:nobody'`).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != n-busy {
		t.Fatalf("throttle counted %d attempts, want %d (busy ones do not count)", attempts, n-busy)
	}
}

func TestSweepDeletesExpiredRows(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{RefreshIdleTTL: time.Hour, RefreshTTL: 2 * time.Hour, LoginWindow: time.Minute}, cheap)
	pw := e.user(svc, "judy")
	old := login(t, svc, "judy", pw)
	svc.Login(ctx, auth.LoginRequest{Username: "judy", Password: "wrong-password", Address: "192.0.2.1"})
	e.clock.Add(3 * time.Hour)
	fresh := login(t, svc, "judy", pw)
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(q string, args ...any) int {
		var n int
		if err := e.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM refresh_tokens`); n != 1 {
		t.Fatalf("%d refresh tokens after sweep, want 1 (the live family)", n)
	}
	if n := count(`SELECT count(*) FROM login_throttle WHERE window_start < $1`, e.clock.Now().Add(-time.Minute)); n != 0 {
		t.Fatalf("%d stale throttle rows after sweep", n)
	}
	if _, err := svc.Refresh(ctx, fresh.RefreshToken, nil); err != nil {
		t.Fatalf("live family after sweep: %v", err)
	}
	if _, err := svc.Refresh(ctx, old.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("swept token = %v", err)
	}
}
