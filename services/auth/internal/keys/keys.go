// Package keys manages the auth service's RSA signing keys: it creates them, seals their private
// halves with AES-256-GCM under a key-encryption key before they reach storage, and publishes
// the public halves as a JWK Set.
//
// Keys live in shared storage, so every replica signs with the same active key and serves the
// same JWKS. A key's ID is its RFC 7638 thumbprint.
package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// State is a key's place in the rotation.
type State string

// Key states, in the order a key moves through them.
const (
	// StateNext keys are published in the JWKS but do not sign yet, so caching verifiers
	// learn them before the first token they sign.
	StateNext State = "next"
	// StateActive is the one key that signs.
	StateActive State = "active"
	// StateRetired keys no longer sign but stay published until their tokens expire.
	StateRetired State = "retired"
)

// Errors.
var (
	// ErrNoActiveKey means storage holds no active key yet.
	ErrNoActiveKey = errors.New("keys: no active signing key")
	// ErrKEK means the key-encryption key is missing, malformed, or cannot open a stored key.
	ErrKEK = errors.New("keys: key-encryption key")
)

// Sealed is a key as storage keeps it: the private half encrypted.
type Sealed struct {
	ID          string
	State       State
	Sealed      []byte // nonce || AES-256-GCM(PKCS#8 DER), with the ID as associated data
	CreatedAt   time.Time
	ActivatedAt *time.Time
	RetiredAt   *time.Time
	ActivateAt  *time.Time // when a next key is due to start signing
}

// Store persists sealed keys. Implementations must keep at most one key active.
type Store interface {
	// ListKeys returns every stored key that is not removed.
	ListKeys(ctx context.Context) ([]Sealed, error)
	// InsertActiveIfNone stores k as the active key unless an active key exists already;
	// it reports whether k was stored. Replicas racing here leave exactly one active key.
	InsertActiveIfNone(ctx context.Context, k Sealed) (bool, error)
	// InsertNextIfNone stores k in the next state unless a next key exists already; it
	// reports whether k was stored. Of racing replicas exactly one stores its key.
	InsertNextIfNone(ctx context.Context, k Sealed) (bool, error)
	// Promote retires the key activeID and activates the key nextID at now, in one
	// transaction, only if activeID is still active and nextID still next (compare and
	// swap). It reports whether it did; of racing replicas exactly one does.
	Promote(ctx context.Context, activeID, nextID string, now time.Time) (bool, error)
	// ScheduleNext moves the activation of the next key kid to at, if that is earlier.
	ScheduleNext(ctx context.Context, kid string, at time.Time) error
	// RemoveRetired deletes keys retired at or before retiredBy and returns their ids.
	RemoveRetired(ctx context.Context, retiredBy time.Time) ([]string, error)
}

// Key is an opened signing key.
type Key struct {
	ID      string
	State   State
	Private *rsa.PrivateKey
	Sealed  Sealed
}

// DefaultBits is Options.Bits unless configured otherwise.
const DefaultBits = 2048

// Options configures a Manager.
type Options struct {
	// KEK is the 32-byte AES-256 key-encryption key. Required.
	KEK []byte
	// Bits is the RSA modulus size for new keys. Default DefaultBits; 3072 and 4096 are
	// allowed too.
	Bits int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives reload errors. Default: discard.
	Logger *slog.Logger
	// Rotation is the rotation schedule and its contract with verifiers.
	Rotation Rotation
}

// Rotation is the key rotation contract. A key moves next → active → retired → removed:
//
//   - next: published in the JWKS, not signing, for at least PublishLead, so every verifier
//     that caches the JWKS (for up to its max-age) has fetched it before its first token;
//   - active: the one key that signs, for Interval;
//   - retired: no longer signing, still published for RetainAfterRetire, until every token
//     it signed has expired;
//   - removed: deleted from storage, gone from the JWKS; its tokens no longer verify.
type Rotation struct {
	// Interval is how long a key signs before the next one takes over. 0 turns scheduled
	// rotation off (on-demand rotation still works).
	Interval time.Duration
	// PublishLead is how long a next key is published before it signs. Set it to at least
	// two JWKS max-ages plus the replicas' reload interval. Default 10 minutes + 30s.
	PublishLead time.Duration
	// RetainAfterRetire is how long a retired key stays published: the access token lifetime
	// plus verifiers' clock leeway plus the replicas' reload interval (a replica that has not
	// reloaded yet still signs with it). Default 15m + 5m + 30s.
	RetainAfterRetire time.Duration
}

// Manager holds the current keys in memory and reloads them from the store.
type Manager struct {
	store  Store
	aead   cipher.AEAD
	bits   int
	now    func() time.Time
	logger *slog.Logger
	rot    Rotation

	mu     sync.RWMutex
	active *Key
	all    []*Key
	jwks   []byte
	etag   string
}

// NewManager returns a Manager; call Bootstrap before use.
func NewManager(store Store, opts Options) (*Manager, error) {
	if len(opts.KEK) != 32 {
		return nil, fmt.Errorf("%w: must be 32 bytes, got %d", ErrKEK, len(opts.KEK))
	}
	block, err := aes.NewCipher(opts.KEK)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	m := &Manager{store: store, aead: aead, bits: opts.Bits, now: opts.Now, logger: opts.Logger}
	switch m.bits {
	case 0:
		m.bits = DefaultBits
	case 2048, 3072, 4096:
	default:
		return nil, fmt.Errorf("keys: RSA size %d not allowed (2048, 3072 or 4096)", m.bits)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	m.rot = opts.Rotation
	if m.rot.PublishLead == 0 {
		m.rot.PublishLead = 10*time.Minute + 30*time.Second
	}
	if m.rot.RetainAfterRetire == 0 {
		m.rot.RetainAfterRetire = 20*time.Minute + 30*time.Second
	}
	return m, nil
}

// Bootstrap makes sure an active key exists (creating one if storage has none) and loads
// every key.
func (m *Manager) Bootstrap(ctx context.Context) error {
	if err := m.Reload(ctx); err == nil {
		return nil
	} else if !errors.Is(err, ErrNoActiveKey) {
		return err
	}
	k, err := m.Generate(StateActive)
	if err != nil {
		return err
	}
	if _, err := m.store.InsertActiveIfNone(ctx, k.Sealed); err != nil {
		return fmt.Errorf("keys: store first key: %w", err)
	}
	return m.Reload(ctx)
}

// Generate creates and seals a new key in state s. It does not store it.
func (m *Manager) Generate(s State) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, m.bits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate: %w", err)
	}
	kid := Thumbprint(&priv.PublicKey)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	nonce := make([]byte, m.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	now := m.now().UTC()
	sealed := Sealed{
		ID:        kid,
		State:     s,
		Sealed:    m.aead.Seal(nonce, nonce, der, []byte(kid)),
		CreatedAt: now,
	}
	if s == StateActive {
		sealed.ActivatedAt = &now
	}
	return &Key{ID: kid, State: s, Private: priv, Sealed: sealed}, nil
}

// Open decrypts a sealed key and checks that it matches its ID.
func (m *Manager) Open(s Sealed) (*Key, error) {
	ns := m.aead.NonceSize()
	if len(s.Sealed) < ns {
		return nil, fmt.Errorf("%w: key %s: sealed data too short", ErrKEK, s.ID)
	}
	der, err := m.aead.Open(nil, s.Sealed[:ns], s.Sealed[ns:], []byte(s.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot open key %s (wrong key-encryption key?)", ErrKEK, s.ID)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", s.ID, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok || Thumbprint(&priv.PublicKey) != s.ID {
		return nil, fmt.Errorf("keys: key %s: not the RSA key its ID names", s.ID)
	}
	return &Key{ID: s.ID, State: s.State, Private: priv, Sealed: s}, nil
}

// Reload reads every key from storage and rebuilds the JWKS.
func (m *Manager) Reload(ctx context.Context) error {
	sealed, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	var active *Key
	all := make([]*Key, 0, len(sealed))
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, s := range sealed {
		k, err := m.Open(s)
		if err != nil {
			return err
		}
		if k.State == StateActive {
			active = k
		}
		all = append(all, k)
		jwk, err := jwkset.NewJWKFromKey(&k.Private.PublicKey, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgRS256, KID: k.ID, USE: jwkset.UseSig},
		})
		if err != nil {
			return fmt.Errorf("keys: jwk %s: %w", k.ID, err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	if active == nil {
		return ErrNoActiveKey
	}
	body, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	sum := sha256.Sum256(body)
	m.mu.Lock()
	m.active, m.all, m.jwks = active, all, body
	m.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	m.mu.Unlock()
	return nil
}

// Run advances the rotation and reloads keys every interval until ctx ends, so a replica
// sees keys another created. Every replica runs it; the store's compare-and-swap updates make
// sure only one of them changes each key.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Step(ctx); err != nil && ctx.Err() == nil {
				m.logger.Error("rotate signing keys", "err", err)
			}
		}
	}
}

// SigningKey returns the active key.
func (m *Manager) SigningKey() (*Key, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.active == nil {
		return nil, ErrNoActiveKey
	}
	return m.active, nil
}

// Keys returns every loaded key.
func (m *Manager) Keys() []*Key {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]*Key(nil), m.all...)
}

// JWKS returns the public JWK Set document and its entity tag.
func (m *Manager) JWKS() (body []byte, etag string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.jwks, m.etag
}

// Thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key.
func Thumbprint(pub *rsa.PublicKey) string {
	b64 := base64.RawURLEncoding
	e := b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	n := b64.EncodeToString(pub.N.Bytes())
	// Members in lexicographic order, no whitespace (RFC 7638 section 3).
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	return b64.EncodeToString(sum[:])
}
