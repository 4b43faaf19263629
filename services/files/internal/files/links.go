package files

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrLinksDisabled means no link signing key is configured.
var ErrLinksDisabled = errors.New("signed links are not configured")

// Link is a revocable signed download link to one file.
type Link struct {
	ID            uuid.UUID
	FileID        uuid.UUID
	SHA256        []byte // the file's content hash the link is bound to
	JTI           string // 128 random bits, base64url: the token's unique id
	ExpiresAt     time.Time
	DownloadsLeft *int // nil: unlimited
	CreatedAt     time.Time
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

// LinkStore keeps link rows, which make links revocable and countable.
type LinkStore interface {
	// CreateLink stores l, filling l.SHA256 from the file, and returns it. ErrNotFound if
	// ownerID does not own l.FileID.
	CreateLink(ctx context.Context, ownerID string, l Link) (Link, error)
	// DeleteLink revokes a link; ErrNotFound if ownerID does not own the file or the link
	// is not one of its links.
	DeleteLink(ctx context.Context, ownerID string, fileID, linkID uuid.UUID) error
	// UseLink returns the file a link row grants, if the row still exists, matches c (file,
	// jti and SHA-256), has not expired at now and has downloads left. When count is set it
	// takes one download in the same statement, so parallel uses cannot exceed the limit.
	// ErrNotFound otherwise.
	UseLink(ctx context.Context, c LinkClaims, now time.Time, count bool) (File, error)
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

// Links implements signed download links.
type Links struct {
	store  LinkStore
	blobs  BlobStore
	signer LinkSigner // nil: links disabled
	cfg    LinkConfig
	now    func() time.Time
}

// NewLinks wires Links. A nil signer disables links (ErrLinksDisabled).
func NewLinks(store LinkStore, blobs BlobStore, signer LinkSigner, cfg LinkConfig, now func() time.Time) *Links {
	// A zero limit means nothing (the configuration refuses it), so it takes the default.
	def := DefaultLinkConfig()
	cfg.MaxTTL = cmp.Or(cfg.MaxTTL, def.MaxTTL)
	cfg.MaxDownloads = cmp.Or(cfg.MaxDownloads, def.MaxDownloads)
	if now == nil {
		now = time.Now
	}
	return &Links{store: store, blobs: blobs, signer: signer, cfg: cfg, now: now}
}

// Create makes a link to ownerID's file valid for ttl and, when maxDownloads is set, for at
// most that many downloads. It returns the link and its token.
func (l *Links) Create(ctx context.Context, ownerID string, fileID uuid.UUID, ttl time.Duration, maxDownloads *int) (Link, string, error) {
	if l.signer == nil {
		return Link{}, "", ErrLinksDisabled
	}
	if ttl < time.Second || ttl > l.cfg.MaxTTL {
		return Link{}, "", Invalid("expires_in must be between 1 and %d seconds", int(l.cfg.MaxTTL/time.Second))
	}
	if maxDownloads != nil && (*maxDownloads < 1 || *maxDownloads > l.cfg.MaxDownloads) {
		return Link{}, "", Invalid("max_downloads must be between 1 and %d", l.cfg.MaxDownloads)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Link{}, "", fmt.Errorf("link id: %w", err)
	}
	// JWT times are whole seconds: round the expiry up so a link never lives less than asked.
	now := l.now().UTC()
	exp := now.Add(ttl + time.Second - 1).Truncate(time.Second)
	now = now.Truncate(time.Second)
	link, err := l.store.CreateLink(ctx, ownerID, Link{
		ID: uuid.New(), FileID: fileID, JTI: base64.RawURLEncoding.EncodeToString(b[:]),
		ExpiresAt: exp, DownloadsLeft: maxDownloads, CreatedAt: now,
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

// Revoke deletes a link: it stops working at once, on every node.
func (l *Links) Revoke(ctx context.Context, ownerID string, fileID, linkID uuid.UUID) error {
	return l.store.DeleteLink(ctx, ownerID, fileID, linkID)
}

// Open checks a link token and opens the file it grants. counts says, given the file, whether
// this request takes one of the link's downloads (a GET of the whole file or of a range
// from its first byte does; a HEAD, a revalidation or a resumed download does not); a nil
// counts takes none. Every failure, from a forged token to a revoked or used-up link, is
// ErrNotFound, so links cannot be probed.
func (l *Links) Open(ctx context.Context, token string, counts func(File) bool) (File, Blob, error) {
	if l.signer == nil {
		return File{}, nil, ErrNotFound
	}
	now := l.now()
	c, err := l.signer.Verify(token, now)
	if err != nil {
		return File{}, nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	f, err := l.store.UseLink(ctx, c, now, false)
	if err != nil {
		return File{}, nil, err
	}
	if err := Servable(f); err != nil { // before a download is counted
		return File{}, nil, err
	}
	if counts != nil && counts(f) {
		// Checked again as the download is taken, in one statement: a parallel use may
		// have taken the last one since.
		if f, err = l.store.UseLink(ctx, c, now, true); err != nil {
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
