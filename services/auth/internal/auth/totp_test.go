package auth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer/pkg/auditlog"
	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
	"github.com/cofferhq/coffer/services/auth/internal/keys"
	"github.com/cofferhq/coffer/services/auth/internal/password"
	"github.com/cofferhq/coffer/services/auth/internal/secretbox"
)

// identityService is a service with the identity stores and a TOTP sealer.
func (e *env) identityService(cfg auth.Config) *auth.Service {
	e.t.Helper()
	svc := e.service(cfg, cheap)
	kek := make([]byte, 32)
	rand.Read(kek)
	box, err := secretbox.New(kek, "totp v1")
	if err != nil {
		e.t.Fatal(err)
	}
	svc.UseSealer(box)
	return svc
}

// code computes the TOTP code of secret at t, as an authenticator app would.
func code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol sets up TOTP for the user and returns the secret and recovery codes.
func enrol(t testing.TB, e *env, svc *auth.Service, name string) (auth.User, string, []string) {
	t.Helper()
	ctx := context.Background()
	u, err := e.db.UserByUsername(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	setup, err := svc.StartTOTP(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConfirmTOTP(ctx, u, "000000x"); !errors.Is(err, auth.ErrInvalidOTP) {
		t.Fatalf("confirm with a wrong code = %v, want ErrInvalidOTP", err)
	}
	codes, err := svc.ConfirmTOTP(ctx, u, code(t, setup.Secret, e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != auth.RecoveryCodeCount {
		t.Fatalf("%d recovery codes, want %d", len(codes), auth.RecoveryCodeCount)
	}
	return u, setup.Secret, codes
}

// TestTOTPLogin: an enrolled user needs a code; a code works once (its step is stored), a
// recovery code works once, and the secret and codes are not stored in clear.
func TestTOTPLogin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.identityService(auth.Config{})
	pw := e.user(svc, "tara")
	u, secret, recovery := enrol(t, e, svc, "tara")

	login := func(otp string) error {
		_, err := svc.Login(ctx, auth.LoginRequest{Username: "tara", Password: pw, OTP: otp, Address: "192.0.2.1"})
		return err
	}
	if err := login(""); !errors.Is(err, auth.ErrMFARequired) {
		t.Fatalf("login without a code = %v, want ErrMFARequired", err)
	}
	if _, err := svc.Login(ctx, auth.LoginRequest{Username: "tara", Password: "wrong-password", Address: "192.0.2.1"}); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("wrong password = %v, want ErrInvalidCredentials (the second factor is not revealed)", err)
	}
	// The enrolment used the current step: its code is spent. The next step's code works once.
	if err := login(code(t, secret, e.clock.Now())); !errors.Is(err, auth.ErrInvalidOTP) {
		t.Fatalf("the enrolment's code again = %v, want ErrInvalidOTP", err)
	}
	e.clock.Add(30 * time.Second)
	next := code(t, secret, e.clock.Now())
	if err := login(next); err != nil {
		t.Fatalf("login with a fresh code: %v", err)
	}
	if err := login(next); !errors.Is(err, auth.ErrInvalidOTP) {
		t.Fatalf("replayed code = %v, want ErrInvalidOTP", err)
	}
	// A code from two steps ago is outside the window.
	e.clock.Add(90 * time.Second)
	if err := login(code(t, secret, e.clock.Now().Add(-60*time.Second))); !errors.Is(err, auth.ErrInvalidOTP) {
		t.Fatalf("stale code = %v, want ErrInvalidOTP", err)
	}
	if err := login(recovery[0]); err != nil {
		t.Fatalf("login with a recovery code: %v", err)
	}
	if err := login(recovery[0]); !errors.Is(err, auth.ErrInvalidOTP) {
		t.Fatalf("recovery code used twice = %v, want ErrInvalidOTP", err)
	}
	if _, left, _ := svc.MFAStatus(ctx, u.ID); left != auth.RecoveryCodeCount-1 {
		t.Fatalf("%d recovery codes left, want %d", left, auth.RecoveryCodeCount-1)
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM user_totp WHERE position($1::bytea in sealed) > 0`, []byte(secret)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the TOTP secret is stored in clear (%d rows, %v)", n, err)
	}
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM user_recovery_codes WHERE code_hash = $1::bytea`, []byte(recovery[1])).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a recovery code is stored in clear (%d rows, %v)", n, err)
	}
}

// TestTOTPThrottledWithPasswords: wrong codes count against the same login throttle as wrong
// passwords; once over, even the right password and code are refused.
func TestTOTPThrottledWithPasswords(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.identityService(auth.Config{PairAttempts: 4, AccountAttempts: 100, AddressAttempts: 100})
	pw := e.user(svc, "ugo")
	_, secret, _ := enrol(t, e, svc, "ugo")
	e.clock.Add(30 * time.Second)
	try := func(pass, otp string) error {
		_, err := svc.Login(ctx, auth.LoginRequest{Username: "ugo", Password: pass, OTP: otp, Address: "198.51.100.7"})
		return err
	}
	// Two wrong passwords and two wrong codes: four failures, the pair's limit.
	for i, tc := range []struct{ pass, otp string }{{"wrong-pass-1", ""}, {pw, "000000"}, {"wrong-pass-2", ""}, {pw, "999999"}} {
		if err := try(tc.pass, tc.otp); err == nil || errors.Is(err, auth.ErrThrottled) {
			t.Fatalf("attempt %d: %v, want a failure that is not yet throttled", i, err)
		}
	}
	if err := try(pw, code(t, secret, e.clock.Now())); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("right password and code after four failures = %v, want ErrThrottled", err)
	}
	// Asking for the code (mfa_required) is not a failure: it does not use the budget up.
	e.clock.Add(16 * time.Minute)
	for range 6 {
		if err := try(pw, ""); !errors.Is(err, auth.ErrMFARequired) {
			t.Fatalf("password without code = %v, want ErrMFARequired", err)
		}
	}
	if err := try(pw, code(t, secret, e.clock.Now())); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestTOTPRequiredForEveryone: with MFARequired a user with a password and no second factor
// is asked to set one up; an enrolled one signs in with a code.
func TestTOTPRequiredForEveryone(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.identityService(auth.Config{MFARequired: true})
	pw := e.user(svc, "vera")
	if _, err := svc.Login(ctx, auth.LoginRequest{Username: "vera", Password: pw}); !errors.Is(err, auth.ErrMFAEnrollmentRequired) {
		t.Fatalf("login without a second factor = %v, want ErrMFAEnrollmentRequired", err)
	}
	_, secret, _ := enrol(t, e, svc, "vera")
	e.clock.Add(30 * time.Second)
	if _, err := svc.Login(ctx, auth.LoginRequest{Username: "vera", Password: pw, OTP: code(t, secret, e.clock.Now())}); err != nil {
		t.Fatal(err)
	}
}

// TestSecretBoxBindsUser: a sealed secret opens only for the user it was sealed for.
func TestSecretBoxBindsUser(t *testing.T) {
	kek := make([]byte, 32)
	rand.Read(kek)
	box, err := secretbox.New(kek, "totp v1")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user-a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := box.Open(sealed, []byte("user-b")); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("opened for another user: %v", err)
	}
	if got, err := box.Open(sealed, []byte("user-a")); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open = %q, %v", got, err)
	}
}

// TestEnrolAtSignIn: where a second factor is required, a user without one signs in by
// confirming a new one in the same step; a wrong code names the user again (to start over)
// and counts like a wrong password.
func TestEnrolAtSignIn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.identityService(auth.Config{MFARequired: true, PairAttempts: 3})
	pw := e.user(svc, "wanda")
	const addr = "192.0.2.7"
	if _, _, err := svc.EnrolAtSignIn(ctx, "wanda", "wrong-password", "", addr); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("wrong password = %v, want ErrInvalidCredentials", err)
	}
	u, err := e.db.UserByUsername(ctx, "wanda")
	if err != nil {
		t.Fatal(err)
	}
	setup, err := svc.StartTOTP(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.EnrolAtSignIn(ctx, "wanda", pw, "000000", addr)
	var need *auth.EnrolmentRequiredError
	if !errors.Is(err, auth.ErrInvalidOTP) || !errors.As(err, &need) || need.User.ID != u.ID {
		t.Fatalf("wrong code = %v, want ErrInvalidOTP naming the user", err)
	}
	got, codes, err := svc.EnrolAtSignIn(ctx, "wanda", pw, code(t, setup.Secret, e.clock.Now()), addr)
	if err != nil || got.ID != u.ID || len(codes) != auth.RecoveryCodeCount {
		t.Fatalf("right code: %v, %d codes, %v", got.ID, len(codes), err)
	}
	// Enrolled now: the step asks for a code like any sign-in.
	if _, _, err := svc.EnrolAtSignIn(ctx, "wanda", pw, "", addr); !errors.Is(err, auth.ErrMFARequired) {
		t.Fatalf("enrolled, no code = %v, want ErrMFARequired", err)
	}

	// Wrong codes are throttled with passwords: the third failure of the pair is the last.
	pw2 := e.user(svc, "xena")
	x, err := e.db.UserByUsername(ctx, "xena")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartTOTP(ctx, x); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := svc.EnrolAtSignIn(ctx, "xena", pw2, "000000", addr); !errors.Is(err, auth.ErrInvalidOTP) {
			t.Fatalf("wrong code %d = %v, want ErrInvalidOTP", i+1, err)
		}
	}
	if _, _, err := svc.EnrolAtSignIn(ctx, "xena", pw2, "000000", addr); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("fourth wrong code = %v, want ErrThrottled", err)
	}

	// Without the requirement, a user without a second factor is simply signed in.
	open := e.identityService(auth.Config{})
	pw3 := e.user(open, "yuri")
	if got, codes, err := open.EnrolAtSignIn(ctx, "yuri", pw3, "", addr); err != nil || got.Username != "yuri" || codes != nil {
		t.Fatalf("no requirement: %+v, %v, %v", got, codes, err)
	}
}

// TestDisableTOTP: a confirmed second factor is removed only with a current code; a pending
// one without; none to remove is ErrNotFound, as on a service without TOTP storage.
func TestDisableTOTP(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.identityService(auth.Config{})
	log, err := auditpg.New(e.pool, "auth_audit_log") // cmd/coffer-auth's table
	if err != nil {
		t.Fatal(err)
	}
	svc.SetAuditor(log)
	disabled := func() int {
		t.Helper()
		n := 0
		if err := log.Each(ctx, auditpg.Query{Action: auth.AuditTOTPDisable}, func(auditlog.Record) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	pw := e.user(svc, "zoe")
	u, secret, _ := enrol(t, e, svc, "zoe")
	if err := svc.DisableTOTP(ctx, u, "000000"); !errors.Is(err, auth.ErrInvalidOTP) {
		t.Fatalf("wrong code = %v, want ErrInvalidOTP", err)
	}
	if on, _, err := svc.MFAStatus(ctx, u.ID); err != nil || !on {
		t.Fatalf("after a refused disable: enrolled %v, %v", on, err)
	}
	e.clock.Add(30 * time.Second)
	if err := svc.DisableTOTP(ctx, u, code(t, secret, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if n := disabled(); n != 1 {
		t.Errorf("%d audit records of %s, want 1", n, auth.AuditTOTPDisable)
	}
	if _, err := svc.Login(ctx, auth.LoginRequest{Username: "zoe", Password: pw}); err != nil {
		t.Fatalf("sign-in without a code after disabling: %v", err)
	}
	if err := svc.DisableTOTP(ctx, u, ""); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("nothing to disable = %v, want ErrNotFound", err)
	}
	if _, err := svc.StartTOTP(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := svc.DisableTOTP(ctx, u, ""); err != nil {
		t.Fatalf("pending enrolment: %v", err)
	}
	if err := svc.DisableTOTP(ctx, u, ""); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("pending enrolment removed: %v, want ErrNotFound", err)
	}
	bare := auth.NewService(auth.Stores{Users: e.db, Refresh: e.db, Clients: e.db, Throttle: e.db}, password.NewHasher(cheap, 1),
		keys.NewIssuer(e.keys, "https://auth.test", "coffer-files", time.Minute, nil), auth.Config{}, e.clock.Now)
	if err := bare.DisableTOTP(ctx, u, ""); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("no TOTP storage = %v, want ErrNotFound", err)
	}
}

// TestSecondFactorLength: a code is read up to 64 bytes, dashes included (a recovery code
// written with extra dashes still works), and refused beyond without being looked up.
func TestSecondFactorLength(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.identityService(auth.Config{})
	pw := e.user(svc, "yann")
	_, _, codes := enrol(t, e, svc, "yann")
	pad := func(c string, n int) string { return c[:4] + strings.Repeat("-", n-len(c)) + c[4:] }
	login := func(otp string) error {
		_, err := svc.Login(ctx, auth.LoginRequest{Username: "yann", Password: pw, OTP: otp})
		return err
	}
	if err := login(pad(codes[0], 65)); !errors.Is(err, auth.ErrInvalidOTP) {
		t.Fatalf("a code of 65 bytes = %v, want ErrInvalidOTP", err)
	}
	if err := login(pad(codes[0], 64)); err != nil {
		t.Fatalf("a recovery code written as 64 bytes: %v", err)
	}
}

// TestTOTPCodeOnceUnderConcurrency: however many sign-ins present the same code at once,
// exactly one passes (the stored step is raised in one conditional update; a sign-in that
// loaded the old step must still lose).
func TestTOTPCodeOnceUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.identityService(auth.Config{PairAttempts: 1000, AccountAttempts: 1000, AddressAttempts: 1000})
	pw := e.user(svc, "zack")
	_, secret, _ := enrol(t, e, svc, "zack")
	e.clock.Add(30 * time.Second)
	otp := code(t, secret, e.clock.Now())
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			_, err := svc.Login(ctx, auth.LoginRequest{Username: "zack", Password: pw, OTP: otp, Address: "192.0.2.8"})
			errs <- err
		}()
	}
	close(start)
	passed := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			passed++
		case !errors.Is(err, auth.ErrInvalidOTP):
			t.Errorf("login = %v, want success or ErrInvalidOTP", err)
		}
	}
	if passed != 1 {
		t.Fatalf("%d of %d sign-ins passed with one code, want exactly 1", passed, n)
	}
}

// TestTOTPSkew: a code of the step before or after the current one passes (an authenticator
// whose clock is up to 30 s off), two steps off does not.
func TestTOTPSkew(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.identityService(auth.Config{PairAttempts: 1000, AccountAttempts: 1000, AddressAttempts: 1000})
	pw := e.user(svc, "vic")
	_, secret, _ := enrol(t, e, svc, "vic")
	login := func(at time.Time) error {
		_, err := svc.Login(ctx, auth.LoginRequest{Username: "vic", Password: pw, OTP: code(t, secret, at)})
		return err
	}
	for _, off := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		e.clock.Add(5 * time.Minute)
		if err := login(e.clock.Now().Add(off)); !errors.Is(err, auth.ErrInvalidOTP) {
			t.Errorf("code %v off = %v, want ErrInvalidOTP", off, err)
		}
	}
	for _, off := range []time.Duration{-30 * time.Second, 30 * time.Second} {
		e.clock.Add(5 * time.Minute)
		if err := login(e.clock.Now().Add(off)); err != nil {
			t.Errorf("code %v off: %v", off, err)
		}
	}
}
