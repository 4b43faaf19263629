package files

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Share is read access to one file granted by its owner to another user.
type Share struct {
	FileID uuid.UUID
	UserID string // the recipient's token sub
	// Username is the name the owner gave for the recipient when sharing by username ("" if
	// shared by user id): lists show it, access goes by UserID alone.
	Username string
	// SharerName is the owner's username when they shared the file, as their access token
	// named them (the preferred_username claim); "" when the token named none or the share
	// is older than the column. Lists of files shared with someone show it; it is a
	// snapshot, not kept in step with later renames (the owner's id stays the authority).
	SharerName string
	CreatedAt  time.Time
}

// ShareStore keeps shares. A share lets its recipient read the file through
// MetadataStore.FileByID (and so Service.Get and Service.Open); only the owner can change it.
type ShareStore interface {
	// CreateShare grants s.UserID read access to s.FileID; granting it again is not an
	// error. ErrNotFound if ownerID does not own the file.
	CreateShare(ctx context.Context, ownerID string, s Share) error
	// DeleteShare revokes a share; ErrNotFound if ownerID does not own the file or it is not
	// shared with userID.
	DeleteShare(ctx context.Context, ownerID string, fileID uuid.UUID, userID string) error
	// ListShared returns the files others shared with userID, newest first, with the same
	// keyset cursor as ListFiles; ErrInvalidInput for a bad cursor.
	ListShared(ctx context.Context, userID string, opts ListOptions) (Page, error)
	// ListShares returns the shares of ownerID's file fileID, newest first (none, not an
	// error, for a file ownerID does not own); ErrInvalidInput for a bad cursor.
	ListShares(ctx context.Context, ownerID string, fileID uuid.UUID, opts ListOptions) (SharePage, error)
	// FileMarks reports which of ownerID's files ids are shared or have an unexpired link
	// (ids ownerID does not own are left out).
	FileMarks(ctx context.Context, ownerID string, ids []uuid.UUID, now time.Time) (map[uuid.UUID]Marks, error)
}

// Marks say how a file is given out, for its row in a listing.
type Marks struct {
	Shared bool // shared with at least one user
	Linked bool // at least one link that has not expired
}

// SharePage is one page of a file's shares.
type SharePage struct {
	Shares     []Share
	NextCursor string
}

// Sharing implements sharing files between users.
type Sharing struct {
	store ShareStore
	now   func() time.Time
}

// NewSharing wires Sharing; now defaults to time.Now.
func NewSharing(store ShareStore, now func() time.Time) *Sharing {
	if now == nil {
		now = time.Now
	}
	return &Sharing{store: store, now: now}
}

// MaxUserIDBytes bounds a recipient id.
const MaxUserIDBytes = 255

// ValidateUserID checks a recipient id: a token sub, 1 to 255 printable ASCII characters.
func ValidateUserID(id string) error {
	if id == "" || len(id) > MaxUserIDBytes || strings.ContainsFunc(id, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) {
		return Invalid("user_id must be 1 to %d printable ASCII characters", MaxUserIDBytes)
	}
	return nil
}

// Share grants userID read access to ownerID's file.
func (s *Sharing) Share(ctx context.Context, ownerID string, fileID uuid.UUID, userID string) (Share, error) {
	return s.Grant(ctx, Grant{OwnerID: ownerID, FileID: fileID, UserID: userID})
}

// Grant is an owner's request to share one of their files.
type Grant struct {
	OwnerID string // the caller's token sub
	// OwnerName is the caller's username as their token gives it ("" if it gives none); a
	// name that is not a plausible username is not kept (see PlausibleSharerName).
	OwnerName string
	FileID    uuid.UUID
	UserID    string // the recipient's token sub
	// Username is the name the owner gave for the recipient ("" when shared by user id).
	Username string
}

// maxSharerNameBytes bounds a sharer's name as kept: no username of the auth service is
// longer.
const maxSharerNameBytes = 64

// PlausibleSharerName reports whether name may be kept and shown as a sharer's name: 1 to
// 64 printable ASCII characters without spaces, as every username of the auth service is.
// Anything else (control characters that a terminal would obey, look-alike letters) is left
// out, and the share's lists show the owner's id instead.
func PlausibleSharerName(name string) bool {
	return name != "" && len(name) <= maxSharerNameBytes && !strings.ContainsFunc(name, func(r rune) bool { return r <= 0x20 || r >= 0x7f })
}

// Grant is Share of g.FileID to g.UserID, keeping the names the share's lists show; granting
// an existing share again keeps the first names.
func (s *Sharing) Grant(ctx context.Context, g Grant) (Share, error) {
	ownerID, fileID, userID, username := g.OwnerID, g.FileID, g.UserID, g.Username
	if len(username) > MaxUserIDBytes {
		return Share{}, Invalid("username too long")
	}
	if err := ValidateUserID(userID); err != nil {
		return Share{}, err
	}
	if userID == ownerID {
		return Share{}, Invalid("a file cannot be shared with its owner")
	}
	sh := Share{FileID: fileID, UserID: userID, Username: username, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	if PlausibleSharerName(g.OwnerName) {
		sh.SharerName = g.OwnerName
	}
	if err := s.store.CreateShare(ctx, ownerID, sh); err != nil {
		return Share{}, err
	}
	return sh, nil
}

// Unshare revokes userID's access at once.
func (s *Sharing) Unshare(ctx context.Context, ownerID string, fileID uuid.UUID, userID string) error {
	if ValidateUserID(userID) != nil {
		return ErrNotFound
	}
	return s.store.DeleteShare(ctx, ownerID, fileID, userID)
}

// ListShared returns a page of the files shared with userID.
func (s *Sharing) ListShared(ctx context.Context, userID string, opts ListOptions) (Page, error) {
	opts, err := opts.normalize()
	if err != nil {
		return Page{}, err
	}
	return s.store.ListShared(ctx, userID, opts)
}

// ListShares returns a page of the shares of ownerID's file.
func (s *Sharing) ListShares(ctx context.Context, ownerID string, fileID uuid.UUID, opts ListOptions) (SharePage, error) {
	opts, err := opts.normalize()
	if err != nil {
		return SharePage{}, err
	}
	return s.store.ListShares(ctx, ownerID, fileID, opts)
}

// Marks reports which of ownerID's files ids are shared or linked (at most 1000 ids).
func (s *Sharing) Marks(ctx context.Context, ownerID string, ids []uuid.UUID) (map[uuid.UUID]Marks, error) {
	if len(ids) == 0 {
		return map[uuid.UUID]Marks{}, nil
	}
	if len(ids) > 1000 {
		return nil, Invalid("at most 1000 files at once")
	}
	return s.store.FileMarks(ctx, ownerID, ids, s.now())
}

// normalize applies the listing defaults and bounds, for Service.List and Sharing.ListShared.
func (o ListOptions) normalize() (ListOptions, error) {
	switch {
	case o.Limit == 0:
		o.Limit = 50
	case o.Limit < 0 || o.Limit > 1000:
		return o, Invalid("limit must be between 1 and 1000")
	}
	if len(o.Prefix) > MaxNameBytes {
		return o, Invalid("prefix too long")
	}
	return o, nil
}
