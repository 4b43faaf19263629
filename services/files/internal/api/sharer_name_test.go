package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/cofferhq/coffer/pkg/accesstoken"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// namedVerifier is roleVerifier whose tokens name their user (preferred_username): "user"
// is called user-name, "other" has a name no username could be (a terminal escape).
type namedVerifier struct{ roleVerifier }

func (v namedVerifier) Verify(ctx context.Context, raw string) (*accesstoken.Claims, error) {
	c, err := v.roleVerifier.Verify(ctx, raw)
	if err == nil {
		c.PreferredUsername = map[string]string{"user": "user-name", "other": "\x1b[2Jother"}[raw]
	}
	return c, err
}

// TestSharedByName: the share handler keeps the caller's name from their token, and the
// shared-with-me listing gives it as shared_by_name beside shared_by; a name that is no
// plausible username is not kept, and the listing then gives the id alone.
func TestSharedByName(t *testing.T) {
	st := newStack(t)
	s := NewServer(discard, st.svc, namedVerifier{}, nil, Options{Shares: files.NewSharing(st.db, nil)})
	f := st.upload("user", "from-user.txt", []byte("u"))
	g := st.upload("other", "from-other.txt", []byte("o"))
	for _, sh := range []struct{ owner, file, to string }{{"user", f.ID.String(), "other"}, {"other", g.ID.String(), "user"}} {
		if rec := call(t, s, "POST", "/v1/files/"+sh.file+"/shares", sh.owner, map[string]string{"user_id": sh.to}, nil); rec.Code != http.StatusCreated {
			t.Fatalf("%s shares: %d %s", sh.owner, rec.Code, rec.Body)
		}
	}
	type list struct {
		Files []map[string]any `json:"files"`
	}
	for _, tc := range []struct {
		caller, wantBy string
		wantName       any // nil: absent
	}{{"other", "user", "user-name"}, {"user", "other", nil}} {
		rec := call(t, s, "GET", "/v1/files?shared=true", tc.caller, nil, nil)
		got := decodeJSON[list](t, rec)
		if rec.Code != http.StatusOK || len(got.Files) != 1 {
			t.Fatalf("%s's shared list: %d %s", tc.caller, rec.Code, rec.Body)
		}
		if by, name := got.Files[0]["shared_by"], got.Files[0]["shared_by_name"]; by != tc.wantBy || name != tc.wantName {
			t.Errorf("%s's shared list: shared_by %v, shared_by_name %v; want %s, %v", tc.caller, by, name, tc.wantBy, tc.wantName)
		}
	}
	// The owner's own listing names no sharer.
	rec := call(t, s, "GET", "/v1/files", "user", nil, nil)
	if got := decodeJSON[list](t, rec); len(got.Files) != 1 || got.Files[0]["shared_by_name"] != nil {
		t.Errorf("user's own list: %s", rec.Body)
	}
}
