package password_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/password"
)

// Cheap parameters keep the unit tests fast; the production parameters are checked below.
var testParams = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := password.NewHasher(testParams, 2)
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string", enc)
	}
	if err := h.Verify(ctx, "correct horse battery", enc); err != nil {
		t.Fatalf("Verify(right password) = %v", err)
	}
	if err := h.Verify(ctx, "correct horse batterY", enc); !errors.Is(err, password.ErrMismatch) {
		t.Fatalf("Verify(wrong password) = %v, want ErrMismatch", err)
	}
	if err := h.Verify(ctx, "correct horse battery", ""); !errors.Is(err, password.ErrMismatch) {
		t.Fatalf("Verify(unknown user) = %v, want ErrMismatch", err)
	}
	enc2, _ := h.Hash(ctx, "correct horse battery")
	if enc == enc2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestLengthLimits(t *testing.T) {
	ctx := context.Background()
	h := password.NewHasher(testParams, 1)
	if _, err := h.Hash(ctx, strings.Repeat("x", 1<<20)); !errors.Is(err, password.ErrTooLong) {
		t.Fatalf("Hash(1 MiB) = %v, want ErrTooLong", err)
	}
	if err := h.Verify(ctx, strings.Repeat("x", 1<<20), ""); !errors.Is(err, password.ErrTooLong) {
		t.Fatalf("Verify(1 MiB) = %v, want ErrTooLong", err)
	}
	if _, err := h.Hash(ctx, "short"); !errors.Is(err, password.ErrTooShort) {
		t.Fatalf("Hash(short) = %v, want ErrTooShort", err)
	}
}

func TestDefaultParamsMeetOWASPMinimum(t *testing.T) {
	p := password.DefaultParams
	if p.Memory < 19*1024 || p.Time < 2 || p.Threads < 1 {
		t.Fatalf("DefaultParams = %+v, below m=19MiB t=2 p=1", p)
	}
}
