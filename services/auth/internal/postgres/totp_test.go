package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// A TOTP enrolment is replaced until it is confirmed, then refused; a step is used only if
// later than the last; a recovery code is used once; deleting removes both.
func TestTOTPStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	at := now()
	alice := newUser(t, db, "alice")
	bob := newUser(t, db, "bob")
	if _, err := db.TOTP(ctx, alice.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("TOTP before enrolment: err = %v, want ErrNotFound", err)
	}
	if err := db.ConfirmTOTP(ctx, alice.ID, 5, nil, at); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("ConfirmTOTP without enrolment: err = %v, want ErrNotFound", err)
	}
	for _, sealed := range []string{"one", "two"} {
		if err := db.StartTOTP(ctx, alice.ID, []byte(sealed), at); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := db.TOTP(ctx, alice.ID); err != nil || string(e.Sealed) != "two" || e.Confirmed || e.LastStep != 0 || e.UserID != alice.ID {
		t.Fatalf("unconfirmed enrolment = %+v, %v", e, err)
	}
	if ok, err := db.UseTOTPStep(ctx, alice.ID, 1); err != nil || ok {
		t.Fatalf("UseTOTPStep before confirmation = %v, %v; want false", ok, err)
	}
	codes := [][]byte{auth.HashSecret("r1"), auth.HashSecret("r2")}
	if err := db.ConfirmTOTP(ctx, alice.ID, 10, codes, at); err != nil {
		t.Fatal(err)
	}
	if err := db.ConfirmTOTP(ctx, alice.ID, 11, codes, at); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("second ConfirmTOTP: err = %v, want ErrNotFound", err)
	}
	if err := db.StartTOTP(ctx, alice.ID, []byte("three"), at); !errors.Is(err, auth.ErrTOTPEnrolled) {
		t.Fatalf("StartTOTP after confirmation: err = %v, want ErrTOTPEnrolled", err)
	}
	if e, err := db.TOTP(ctx, alice.ID); err != nil || string(e.Sealed) != "two" || !e.Confirmed || e.LastStep != 10 {
		t.Fatalf("confirmed enrolment = %+v, %v", e, err)
	}
	for _, tc := range []struct {
		step int64
		want bool
	}{{10, false}, {9, false}, {11, true}, {11, false}, {13, true}} {
		if ok, err := db.UseTOTPStep(ctx, alice.ID, tc.step); err != nil || ok != tc.want {
			t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.want)
		}
	}
	for _, tc := range []struct {
		user   string
		secret string
		want   bool
		left   int
	}{{"bob", "r1", false, 2}, {"alice", "r1", true, 1}, {"alice", "r1", false, 1}, {"alice", "x", false, 1}, {"alice", "r2", true, 0}} {
		id := alice.ID
		if tc.user == "bob" {
			id = bob.ID
		}
		if ok, err := db.UseRecoveryCode(ctx, id, auth.HashSecret(tc.secret), at); err != nil || ok != tc.want {
			t.Errorf("UseRecoveryCode(%s, %s) = %v, %v; want %v", tc.user, tc.secret, ok, err, tc.want)
		}
		if n, err := db.RecoveryCodesLeft(ctx, alice.ID); err != nil || n != tc.left {
			t.Errorf("after UseRecoveryCode(%s, %s): %d codes left (%v), want %d", tc.user, tc.secret, n, err, tc.left)
		}
	}
	if err := db.DeleteTOTP(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TOTP(ctx, alice.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("TOTP after DeleteTOTP: err = %v", err)
	}
	if n, err := db.RecoveryCodesLeft(ctx, alice.ID); err != nil || n != 0 {
		t.Fatalf("recovery codes after DeleteTOTP: %d, %v", n, err)
	}
	if err := db.StartTOTP(ctx, alice.ID, []byte("four"), at); err != nil {
		t.Fatalf("StartTOTP after DeleteTOTP: %v", err)
	}
}
