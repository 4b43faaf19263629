package files

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
)

// ErrLinksDisabled means no link signing key is configured.
var ErrLinksDisabled = errors.New("signed links are not configured")

// Link is a revocable download link to one file, reachable by its signed token (the API's
// long form) and by its short id (for people).
type Link struct {
	ID        uuid.UUID
	FileID    uuid.UUID
	FileName  string // the file's, for listings
	FileSize  int64  // the file's, for listings and the budget
	SHA256    []byte // the file's content hash the link is bound to
	JTI       string // 128 random bits, base64url: the token's unique id
	ShortID   string // 128 random bits, base62: the short URL's last segment
	ExpiresAt time.Time
	// MaxDownloads sets the link's byte budget (see Budget); nil: unlimited.
	MaxDownloads *int
	ServedBytes  int64  // of the budget, taken so far
	PasswordHash string // "" for none; never leaves the service
	CreatedAt    time.Time
}

// HasPassword reports whether the link asks for a password.
func (l Link) HasPassword() bool { return l.PasswordHash != "" }

// Budget is how many bytes a link serves in all, counted over every response and range on
// every node: MaxDownloads × size for responses that carry the file's first byte (a download),
// plus one size of slack that only responses starting later (resumes) may use. A zero-byte
// file counts as one byte. -1 means unlimited. The store enforces it (LinkStore.ReserveLinkBytes).
func (l Link) Budget() int64 {
	if l.MaxDownloads == nil {
		return -1
	}
	return int64(*l.MaxDownloads+1) * max(l.FileSize, 1)
}

// LinkPage is one page of a link listing, newest first.
type LinkPage struct {
	Links      []Link
	NextCursor string
}

// LinkClaims are what a link token asserts, once its signature has been checked.
type LinkClaims struct {
	LinkID    uuid.UUID
	FileID    uuid.UUID
	SHA256    []byte
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// LinkSigner signs and verifies link tokens (package linktoken).
type LinkSigner interface {
	Sign(c LinkClaims) (string, error)
	// Verify returns the claims of a genuine, unexpired link token, or an error for anything
	// else (an access token included).
	Verify(token string, now time.Time) (LinkClaims, error)
}

// LinkStore keeps link rows, which make links revocable and hold their budgets.
type LinkStore interface {
	// CreateLink stores l, filling l.SHA256, FileName and FileSize from the file, and
	// returns it. A file that expires caps the link's ExpiresAt at its own. ErrNotFound if
	// ownerID does not own l.FileID.
	CreateLink(ctx context.Context, ownerID string, l Link) (Link, error)
	// DeleteLink revokes a link; ErrNotFound if ownerID does not own the file or the link
	// is not one of its links.
	DeleteLink(ctx context.Context, ownerID string, fileID, linkID uuid.UUID) error
	// LinkByID and LinkByShortID return a link and its file if the link has not expired at
	// now and its file still has the content it was made for; ErrNotFound otherwise.
	LinkByID(ctx context.Context, id uuid.UUID, now time.Time) (Link, File, error)
	LinkByShortID(ctx context.Context, shortID string, now time.Time) (Link, File, error)
	// ReserveLinkBytes takes n bytes (at least 1) of the link's budget for one response,
	// in one atomic statement, and returns the file: a fresh response (carrying byte 0) must
	// fit in MaxDownloads × size, any other in Budget. n == 0 takes nothing and only checks
	// that a fresh response would still fit (a HEAD, a 304). ErrNotFound if the budget is
	// spent, or the link is gone or expired at now.
	ReserveLinkBytes(ctx context.Context, linkID uuid.UUID, n int64, fresh bool, now time.Time) (File, error)
	// ListLinks returns ownerID's links, to fileID's file only when it is set, newest first;
	// ErrInvalidInput for a bad cursor.
	ListLinks(ctx context.Context, ownerID string, fileID *uuid.UUID, opts ListOptions) (LinkPage, error)
}

// LinkConfig holds the link limits. DefaultLinkConfig holds their defaults.
type LinkConfig struct {
	// MaxTTL is the longest expires_in accepted.
	MaxTTL time.Duration
	// MaxDownloads is the largest max_downloads accepted.
	MaxDownloads int
}

// DefaultLinkConfig is the link limits unless configured otherwise, and the one place their
// defaults are written: cmd/coffer-files reads its environment over it.
func DefaultLinkConfig() LinkConfig {
	return LinkConfig{MaxTTL: 7 * 24 * time.Hour, MaxDownloads: 1_000_000}
}

// Links implements download links.
type Links struct {
	store  LinkStore
	blobs  BlobStore
	signer LinkSigner // nil: links disabled
	guard  *Guard
	cfg    LinkConfig
	now    func() time.Time
}

// NewLinks wires Links. A nil signer disables links (ErrLinksDisabled).
func NewLinks(store LinkStore, blobs BlobStore, signer LinkSigner, guard *Guard, cfg LinkConfig, now func() time.Time) *Links {
	// A zero limit means nothing (the configuration refuses it), so it takes the default.
	def := DefaultLinkConfig()
	cfg.MaxTTL = cmp.Or(cfg.MaxTTL, def.MaxTTL)
	cfg.MaxDownloads = cmp.Or(cfg.MaxDownloads, def.MaxDownloads)
	if now == nil {
		now = time.Now
	}
	return &Links{store: store, blobs: blobs, signer: signer, guard: guard, cfg: cfg, now: now}
}

// MaxTTL is the longest a link (or a file request) may live.
func (l *Links) MaxTTL() time.Duration { return l.cfg.MaxTTL }

// LinkOptions are what the owner chooses for a new link.
type LinkOptions struct {
	TTL          time.Duration
	MaxDownloads *int
	Password     string // "" for none
}

// Create makes a link to ownerID's file valid for opts.TTL and, when MaxDownloads is set, for
// that many downloads' worth of bytes. It returns the link and its signed token.
func (l *Links) Create(ctx context.Context, ownerID string, fileID uuid.UUID, opts LinkOptions) (Link, string, error) {
	if l.signer == nil {
		return Link{}, "", ErrLinksDisabled
	}
	if opts.TTL < time.Second || opts.TTL > l.cfg.MaxTTL {
		return Link{}, "", Invalid("expires_in must be between 1 and %d seconds", int(l.cfg.MaxTTL/time.Second))
	}
	if opts.MaxDownloads != nil && (*opts.MaxDownloads < 1 || *opts.MaxDownloads > l.cfg.MaxDownloads) {
		return Link{}, "", Invalid("max_downloads must be between 1 and %d", l.cfg.MaxDownloads)
	}
	hash, err := l.guard.HashPassword(ctx, opts.Password)
	if err != nil {
		return Link{}, "", err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Link{}, "", fmt.Errorf("link id: %w", err)
	}
	short, err := NewShortID()
	if err != nil {
		return Link{}, "", err
	}
	// JWT times are whole seconds: round the expiry up so a link never lives less than asked.
	now := l.now().UTC()
	exp := now.Add(opts.TTL + time.Second - 1).Truncate(time.Second)
	now = now.Truncate(time.Second)
	link, err := l.store.CreateLink(ctx, ownerID, Link{
		ID: uuid.New(), FileID: fileID, JTI: base64.RawURLEncoding.EncodeToString(b[:]), ShortID: short,
		ExpiresAt: exp, MaxDownloads: opts.MaxDownloads, PasswordHash: hash, CreatedAt: now,
	})
	if err != nil {
		return Link{}, "", err
	}
	tok, err := l.signer.Sign(LinkClaims{LinkID: link.ID, FileID: link.FileID, SHA256: link.SHA256, JTI: link.JTI, IssuedAt: now, ExpiresAt: link.ExpiresAt})
	if err != nil {
		// The row is unusable without its token; leave it to lapse rather than fail twice.
		return Link{}, "", fmt.Errorf("sign link: %w", err)
	}
	return link, tok, nil
}

// NewShortID returns 128 random bits in base62: the id of a short link or file request.
func NewShortID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("short id: %w", err)
	}
	return new(big.Int).SetBytes(b[:]).Text(62), nil
}

// ValidShortID reports whether s could be a short id, so junk never reaches the database.
func ValidShortID(s string) bool {
	if len(s) < 1 || len(s) > 22 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// Revoke deletes a link: it stops working at once, on every node.
func (l *Links) Revoke(ctx context.Context, ownerID string, fileID, linkID uuid.UUID) error {
	// The store publishes the revocation's fence (LinkStore.DeleteLink).
	return l.store.DeleteLink(ctx, ownerID, fileID, linkID)
}

// List returns a page of ownerID's links, of one file when fileID is set.
func (l *Links) List(ctx context.Context, ownerID string, fileID *uuid.UUID, opts ListOptions) (LinkPage, error) {
	opts, err := opts.normalize()
	if err != nil {
		return LinkPage{}, err
	}
	return l.store.ListLinks(ctx, ownerID, fileID, opts)
}

// LinkRequest is one use of a link.
type LinkRequest struct {
	Token    string // a signed link token, or
	ShortID  string // a short link's id
	Password string
	// Plan says, given the file, how many bytes of it the response will carry and whether
	// they start at byte 0; 0 for a response without a body (a HEAD, a 304), at least 1 for
	// any response with one (a zero-byte file's download counts as one byte). nil: 0.
	Plan func(File) (n int64, fresh bool)
}

// Open checks a link (and its password) and takes the bytes the response will carry from its
// budget before opening the file. Every failure, from a forged token to a revoked, expired or
// spent link or a wrong password, is ErrNotFound, so links cannot be probed; too many
// password attempts are a *ThrottledError.
func (l *Links) Open(ctx context.Context, req LinkRequest) (File, Blob, error) {
	link, f, err := l.resolve(ctx, req)
	if err != nil {
		return File{}, nil, err
	}
	if err := Servable(f); err != nil { // before a byte is taken from the budget
		return File{}, nil, err
	}
	var n int64
	var fresh bool
	if req.Plan != nil {
		n, fresh = req.Plan(f)
	}
	// An unlimited link has no budget to keep, but a download (a response from byte 0) is
	// still recorded, with its link.downloaded event, in the store's one statement.
	if link.MaxDownloads != nil || (n > 0 && fresh) {
		if f, err = l.store.ReserveLinkBytes(ctx, link.ID, n, fresh, l.now()); err != nil {
			return File{}, nil, err
		}
		if err := Servable(f); err != nil {
			return File{}, nil, err
		}
	}
	b, err := OpenBlob(ctx, l.blobs, f)
	if err != nil {
		return File{}, nil, err
	}
	return f, b, nil
}

// Stat checks a link like Open and returns it with its file, taking nothing from its budget:
// what a link's page shows before the download.
func (l *Links) Stat(ctx context.Context, req LinkRequest) (Link, File, error) {
	link, f, err := l.resolve(ctx, req)
	if err != nil {
		return Link{}, File{}, err
	}
	if link.MaxDownloads != nil {
		if _, err := l.store.ReserveLinkBytes(ctx, link.ID, 0, true, l.now()); err != nil {
			return Link{}, File{}, err
		}
	}
	return link, f, nil
}

// resolve finds the link a request names and checks its password.
func (l *Links) resolve(ctx context.Context, req LinkRequest) (Link, File, error) {
	if l.signer == nil {
		return Link{}, File{}, ErrNotFound
	}
	now := l.now()
	var link Link
	var f File
	var err error
	var public string
	switch {
	case req.Token != "":
		c, verr := l.signer.Verify(req.Token, now)
		if verr != nil {
			// Not one of ours: nothing to guess a password for.
			return Link{}, File{}, fmt.Errorf("%w: %w", ErrNotFound, verr)
		}
		public = c.LinkID.String()
		link, f, err = l.store.LinkByID(ctx, c.LinkID, now)
		if err == nil && (link.FileID != c.FileID || subtle.ConstantTimeCompare([]byte(link.JTI), []byte(c.JTI)) != 1 ||
			subtle.ConstantTimeCompare(link.SHA256, c.SHA256) != 1) {
			err = ErrNotFound
		}
		if err == nil && link.ShortID != "" {
			public = link.ShortID // one attempt window per link, whichever way it is reached
		}
	case ValidShortID(req.ShortID):
		public = req.ShortID
		link, f, err = l.store.LinkByShortID(ctx, req.ShortID, now)
	default:
		return Link{}, File{}, ErrNotFound
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Link{}, File{}, err
	}
	found := err == nil
	if err := l.guard.Check(ctx, "link", public, found, link.PasswordHash, req.Password); err != nil {
		return Link{}, File{}, err
	}
	if !found {
		return Link{}, File{}, ErrNotFound
	}
	return link, f, nil
}

// LinkID names the link a token belongs to when its signature and expiry check (for the
// audit log's record of a link download); false otherwise.
func (l *Links) LinkID(token string) (uuid.UUID, bool) {
	if l.signer == nil {
		return uuid.UUID{}, false
	}
	c, err := l.signer.Verify(token, l.now())
	if err != nil {
		return uuid.UUID{}, false
	}
	return c.LinkID, true
}
