package auth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
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
