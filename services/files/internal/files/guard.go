package files

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// ErrThrottled means too many passwords were tried on one link or request; a *ThrottledError
// says for how long.
var ErrThrottled = errors.New("too many attempts")

// ThrottledError is ErrThrottled with the time left before another attempt is taken.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many attempts; retry in %v", e.RetryAfter)
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// MaxPasswordBytes bounds a link or request password; longer ones are refused before hashing.
const MaxPasswordBytes = 1024

// PasswordHasher hashes link and request passwords (package passhash).
type PasswordHasher interface {
	// Hash returns a self-describing hash of password. ErrUnavailable when no hashing slot
	// frees up before ctx ends.
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches hash. An empty hash never matches, at the cost
	// of a real check, so an unknown link answers as slowly as a wrong password.
	Verify(ctx context.Context, hash, password string) (bool, error)
}

// AttemptStore counts password attempts per key, shared by every node.
type AttemptStore interface {
	// TakeAttempt counts one attempt on key and returns how many the key's current window
	// holds and when the window ends; a window starts at the first attempt after the last
	// one ended and lasts window. The count and the check are one atomic step, so parallel
	// guesses cannot slip past the limit together.
	TakeAttempt(ctx context.Context, key []byte, now time.Time, window time.Duration) (n int, ends time.Time, err error)
	// ReturnAttempt uncounts one attempt on key (the password was right).
	ReturnAttempt(ctx context.Context, key []byte) error
}

// GuardConfig bounds password guessing. DefaultGuardConfig holds the defaults.
type GuardConfig struct {
	// MaxAttempts is how many passwords may be tried on one link or request per Window.
	MaxAttempts int
	Window      time.Duration
}

// DefaultGuardConfig is the one place the guessing bounds' defaults are written.
func DefaultGuardConfig() GuardConfig { return GuardConfig{MaxAttempts: 10, Window: 15 * time.Minute} }

// Guard checks the passwords of links and file requests, throttled per link or request.
type Guard struct {
	hasher   PasswordHasher
	attempts AttemptStore
	cfg      GuardConfig
	now      func() time.Time
}

// NewGuard wires a Guard; now defaults to time.Now.
func NewGuard(hasher PasswordHasher, attempts AttemptStore, cfg GuardConfig, now func() time.Time) *Guard {
	def := DefaultGuardConfig()
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, def.MaxAttempts)
	cfg.Window = cmp.Or(cfg.Window, def.Window)
	if now == nil {
		now = time.Now
	}
	return &Guard{hasher: hasher, attempts: attempts, cfg: cfg, now: now}
}

// HashPassword hashes a new link or request password; "" means none.
func (g *Guard) HashPassword(ctx context.Context, password string) (string, error) {
	switch {
	case password == "":
		return "", nil
	case len(password) > MaxPasswordBytes:
		return "", Invalid("password longer than %d bytes", MaxPasswordBytes)
	}
	return g.hasher.Hash(ctx, password)
}

// Check decides whether a caller holding publicID (a link's or request's id as its URL shows
// it) and password may pass. found says whether publicID names a current link or request and
// hash is its password hash ("" for none). A wrong, missing or surplus password on a
// protected or unknown id is ErrNotFound, the same answer as an unknown id; attempts beyond
// the limit are a *ThrottledError, for known and unknown ids alike.
func (g *Guard) Check(ctx context.Context, kind, publicID string, found bool, hash, password string) error {
	switch {
	case found && hash == "":
		return nil
	case password == "":
		return ErrNotFound
	}
	key := sha256.Sum256([]byte(kind + ":" + publicID))
	now := g.now()
	n, ends, err := g.attempts.TakeAttempt(ctx, key[:], now, g.cfg.Window)
	if err != nil {
		return err
	}
	if n > g.cfg.MaxAttempts {
		return &ThrottledError{RetryAfter: max(ends.Sub(now), time.Second)}
	}
	if len(password) > MaxPasswordBytes {
		return ErrNotFound
	}
	if !found {
		hash = ""
	}
	ok, err := g.hasher.Verify(ctx, hash, password)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	// A right password does not use up the holder's attempts.
	return g.attempts.ReturnAttempt(context.WithoutCancel(ctx), key[:])
}
