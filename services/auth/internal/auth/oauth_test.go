package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestRefreshReuseInterval tests both sides of the reuse interval against PostgreSQL: a
// retry within it gets the same successor and the family lives; a replay after it, or after
// the successor was itself used, revokes the family. Two replicas sharing the refresh key
// answer a burst of retries with one successor.
func TestRefreshReuseInterval(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cfg := auth.Config{RefreshReuseInterval: 5 * time.Second, RefreshKey: []byte("0123456789abcdef0123456789abcdef")}
	a, b := e.service(cfg, cheap), e.service(cfg, cheap)
	pw := e.user(a, "rita")

	t.Run("retry within the interval", func(t *testing.T) {
		first := login(t, a, "rita", pw)
		second, err := a.Refresh(ctx, first.RefreshToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(4 * time.Second)
		retry, err := b.Refresh(ctx, first.RefreshToken, nil)
		if err != nil {
			t.Fatalf("retry within the interval: %v", err)
		}
		if retry.RefreshToken != second.RefreshToken {
			t.Fatal("the retry got another successor")
		}
		if e.claims(retry.AccessToken).Subject != e.claims(second.AccessToken).Subject {
			t.Fatal("the retry's access token is for someone else")
		}
		if _, err := a.Refresh(ctx, second.RefreshToken, nil); err != nil {
			t.Fatalf("the successor after a retry: %v (family revoked?)", err)
		}
	})

	t.Run("replay after the interval", func(t *testing.T) {
		first := login(t, a, "rita", pw)
		second, err := a.Refresh(ctx, first.RefreshToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(5*time.Second + time.Millisecond)
		if _, err := b.Refresh(ctx, first.RefreshToken, nil); !errors.Is(err, auth.ErrRefreshReused) {
			t.Fatalf("replay after the interval = %v, want ErrRefreshReused", err)
		}
		if _, err := a.Refresh(ctx, second.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
			t.Fatalf("successor after a replay = %v, want ErrInvalidGrant (family revoked)", err)
		}
	})

	t.Run("replay after the successor was used", func(t *testing.T) {
		first := login(t, a, "rita", pw)
		second, err := a.Refresh(ctx, first.RefreshToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		third, err := a.Refresh(ctx, second.RefreshToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Refresh(ctx, first.RefreshToken, nil); !errors.Is(err, auth.ErrRefreshReused) {
			t.Fatalf("replay of a token whose successor was used = %v, want ErrRefreshReused", err)
		}
		if _, err := a.Refresh(ctx, third.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
			t.Fatalf("newest token after the replay = %v, want ErrInvalidGrant", err)
		}
	})

	t.Run("parallel retries", func(t *testing.T) {
		first := login(t, a, "rita", pw)
		const n = 12
		var wg sync.WaitGroup
		got := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := a
				if i%2 == 1 {
					svc = b
				}
				tok, err := svc.Refresh(ctx, first.RefreshToken, nil)
				got[i], errs[i] = tok.RefreshToken, err
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || got[i] != got[0] {
				t.Fatalf("retry %d: %v (successor equal: %v)", i, errs[i], got[i] == got[0])
			}
		}
		var rows int
		sum := sha256.Sum256([]byte(got[0]))
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE token_hash = $1`, sum[:]).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("%d successor rows (%v), want 1", rows, err)
		}
	})

	t.Run("off", func(t *testing.T) {
		off := e.service(auth.Config{}, cheap)
		first := login(t, off, "rita", pw)
		if _, err := off.Refresh(ctx, first.RefreshToken, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := off.Refresh(ctx, first.RefreshToken, nil); !errors.Is(err, auth.ErrRefreshReused) {
			t.Fatalf("immediate replay with the interval off = %v, want ErrRefreshReused", err)
		}
	})
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestAuthorizationCodeGrant covers codes against PostgreSQL: the exchange, binding to the
// client, redirect URI and verifier, expiry, a replay revoking what the code issued, and a
// race of presentations of one code.
func TestAuthorizationCodeGrant(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	e.user(svc, "carl")
	const cb = "https://app.example/cb"
	if _, _, err := svc.RegisterClient(ctx, auth.ClientSpec{ID: "app", Public: true, Scopes: []string{"files:read", "files:write"}, RedirectURIs: []string{cb}}); err != nil {
		t.Fatal(err)
	}
	u, err := svc.Authenticate(ctx, "carl", "pw-carl-long-enough", "192.0.2.9")
	if err != nil {
		t.Fatal(err)
	}
	verifier := strings.Repeat("v", 43)
	newCode := func() string {
		t.Helper()
		req, err := svc.CheckAuthorize(ctx, auth.AuthorizeParams{ResponseType: "code", ClientID: "app", RedirectURI: cb, State: "s",
			Scope: "files:read", CodeChallenge: challenge(verifier), CodeChallengeMethod: "S256"})
		if err != nil {
			t.Fatal(err)
		}
		code, err := svc.IssueCode(ctx, req, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	exchange := func(code, client, redirect, v string) (auth.TokenResponse, error) {
		return svc.ExchangeCode(ctx, auth.CodeExchange{Client: auth.ClientAuth{ID: client}, Code: code, RedirectURI: redirect, CodeVerifier: v})
	}

	code := newCode()
	tok, err := exchange(code, "app", cb, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.claims(tok.AccessToken); c.ClientID != "app" || c.Scope != "files:read" || c.Subject != u.ID.String() || c.PreferredUsername != u.Username {
		t.Fatalf("claims %+v, want preferred_username %q", c, u.Username)
	}
	if _, err := exchange(code, "app", cb, verifier); !errors.Is(err, auth.ErrCodeReused) {
		t.Fatalf("replay = %v, want ErrCodeReused", err)
	}
	if _, err := svc.RefreshAs(ctx, auth.ClientAuth{ID: "app"}, tok.RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("refresh token of a replayed code = %v, want ErrInvalidGrant", err)
	}

	for name, f := range map[string]func(code string) error{
		"wrong verifier": func(c string) error { _, err := exchange(c, "app", cb, strings.Repeat("w", 43)); return err },
		"short verifier": func(c string) error { _, err := exchange(c, "app", cb, "v"); return err },
		"other redirect": func(c string) error { _, err := exchange(c, "app", cb+"/x", verifier); return err },
		"first party":    func(c string) error { _, err := exchange(c, "", cb, verifier); return err },
		"expired": func(c string) error {
			e.clock.Add(auth.CodeTTL)
			_, err := exchange(c, "app", cb, verifier)
			return err
		},
	} {
		if err := f(newCode()); !errors.Is(err, auth.ErrInvalidGrant) {
			t.Errorf("%s = %v, want ErrInvalidGrant", name, err)
		}
	}

	// A race of presentations: exactly one consumes the code, the others are replays
	// (ErrCodeReused) and revoke what it got. The consumer gets tokens, or, when a replay
	// overtook it before its tokens were stored, a plain ErrInvalidGrant; never does no
	// presentation (or more than one) consume the code.
	code = newCode()
	const n = 8
	var wg sync.WaitGroup
	toks := make([]auth.TokenResponse, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); toks[i], errs[i] = exchange(code, "app", cb, verifier) }()
	}
	wg.Wait()
	consumed := 0
	for i := range n {
		switch {
		case errs[i] == nil:
			consumed++
			if _, err := svc.RefreshAs(ctx, auth.ClientAuth{ID: "app"}, toks[i].RefreshToken, nil); !errors.Is(err, auth.ErrInvalidGrant) {
				t.Fatalf("the winner's refresh token after replays = %v, want revoked", err)
			}
		case errors.Is(errs[i], auth.ErrCodeReused):
		case errors.Is(errs[i], auth.ErrInvalidGrant):
			consumed++
		default:
			t.Fatalf("racing exchange: %v", errs[i])
		}
	}
	if consumed != 1 {
		t.Fatalf("%d of %d racing presentations consumed the code, want exactly 1 (errors %v)", consumed, n, errs)
	}

	// A user disabled after the code was issued gets nothing.
	code = newCode()
	if err := svc.DisableUser(ctx, "carl"); err != nil {
		t.Fatal(err)
	}
	if _, err := exchange(code, "app", cb, verifier); !errors.Is(err, auth.ErrInvalidGrant) {
		t.Fatalf("exchange for a disabled user = %v, want ErrInvalidGrant", err)
	}
}

// TestRegisterClientValidates refuses redirect URIs and origins that could leak codes or
// widen CORS, and a public client that cannot use the authorization endpoint.
func TestRegisterClientValidates(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	scopes := []string{"files:read"}
	for name, spec := range map[string]auth.ClientSpec{
		"public without redirect URI": {ID: "a1", Public: true, Scopes: scopes},
		"http redirect off loopback":  {ID: "a2", Scopes: scopes, RedirectURIs: []string{"http://app.example/cb"}},
		"fragment":                    {ID: "a3", Scopes: scopes, RedirectURIs: []string{"https://app.example/cb#x"}},
		"relative":                    {ID: "a4", Scopes: scopes, RedirectURIs: []string{"/cb"}},
		"scheme without a dot":        {ID: "a5", Scopes: scopes, RedirectURIs: []string{"myapp:/cb"}},
		"javascript":                  {ID: "a6", Scopes: scopes, RedirectURIs: []string{"javascript:alert(1)"}},
		"origin with a path":          {ID: "a7", Scopes: scopes, Origins: []string{"https://app.example/"}},
		"origin over http":            {ID: "a8", Scopes: scopes, Origins: []string{"http://app.example"}},
		"origin wildcard":             {ID: "a9", Scopes: scopes, Origins: []string{"*"}},
		"origin null":                 {ID: "b1", Scopes: scopes, Origins: []string{"null"}},
		// User ids are UUIDs: a client may not be registered under anything of that form.
		"a user's id":                {ID: uuid.NewString(), Scopes: scopes},
		"a user's id without dashes": {ID: strings.ReplaceAll(uuid.NewString(), "-", ""), Scopes: scopes},
	} {
		if _, _, err := svc.RegisterClient(ctx, spec); !errors.Is(err, auth.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	c, secret, err := svc.RegisterClient(ctx, auth.ClientSpec{ID: "spa", Public: true, Scopes: scopes,
		RedirectURIs: []string{"http://127.0.0.1:5173/cb", "https://app.example/cb", "com.example.app:/cb"}, Origins: []string{"http://localhost:5173", "https://app.example"}})
	if err != nil || secret != "" || !c.Public() {
		t.Fatalf("public client: %v secret %q", err, secret)
	}
	for origin, want := range map[string]bool{"https://app.example": true, "http://localhost:5173": true, "https://evil.example": false, "https://app.example/": false, "": false} {
		if got, err := svc.OriginAllowed(ctx, origin); err != nil || got != want {
			t.Errorf("OriginAllowed(%q) = %v, %v; want %v", origin, got, err, want)
		}
	}
}

// TestCheckAuthorize walks the checks of an authorization request in order: who the client
// is (an error shown to the user), then what goes back to its redirect URI.
func TestCheckAuthorize(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)
	const cb = "https://app.example/cb"
	long := strings.Repeat("a", 64) // the longest client id
	for _, spec := range []auth.ClientSpec{
		{ID: long, Public: true, Scopes: []string{"files:read"}, RedirectURIs: []string{cb}},
		{ID: "gone", Public: true, Scopes: []string{"files:read"}, RedirectURIs: []string{cb}},
		{ID: "machine", Scopes: []string{"files:read"}}, // client credentials only: no redirect URI
	} {
		if _, _, err := svc.RegisterClient(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.pool.Exec(ctx, `UPDATE clients SET disabled = true WHERE id = 'gone'`); err != nil {
		t.Fatal(err)
	}
	ok := auth.AuthorizeParams{ResponseType: "code", ClientID: long, RedirectURI: cb, State: strings.Repeat("s", 1024),
		Scope: "files:read", CodeChallenge: challenge(strings.Repeat("v", 43)), CodeChallengeMethod: "S256"}
	req, err := svc.CheckAuthorize(ctx, ok)
	if err != nil || req.Client.ID != long || req.RedirectURI != cb || req.State != ok.State || !slices.Equal(req.Scopes, []string{"files:read"}) || req.CodeChallenge != ok.CodeChallenge {
		t.Fatalf("valid request: %+v, %v", req, err)
	}
	for _, tc := range []struct {
		name    string
		edit    func(*auth.AuthorizeParams)
		wantErr error  // shown to the user
		code    string // or an AuthorizeError for the redirect URI
	}{
		{"no client", func(p *auth.AuthorizeParams) { p.ClientID = "" }, auth.ErrUnknownClient, ""},
		{"client id too long", func(p *auth.AuthorizeParams) { p.ClientID = long + "a" }, auth.ErrUnknownClient, ""},
		{"unknown client", func(p *auth.AuthorizeParams) { p.ClientID = "nobody" }, auth.ErrUnknownClient, ""},
		{"disabled client", func(p *auth.AuthorizeParams) { p.ClientID = "gone" }, auth.ErrUnknownClient, ""},
		{"client without redirect URIs", func(p *auth.AuthorizeParams) { p.ClientID, p.RedirectURI = "machine", "" }, auth.ErrUnknownClient, ""},
		{"other redirect URI", func(p *auth.AuthorizeParams) { p.RedirectURI = cb + "/" }, auth.ErrRedirectURI, ""},
		{"state too long", func(p *auth.AuthorizeParams) { p.State += "s" }, nil, "invalid_request"},
		{"no response type", func(p *auth.AuthorizeParams) { p.ResponseType = "" }, nil, "invalid_request"},
		{"implicit grant", func(p *auth.AuthorizeParams) { p.ResponseType = "token" }, nil, "unsupported_response_type"},
		{"no state", func(p *auth.AuthorizeParams) { p.State = "" }, nil, "invalid_request"},
		{"no challenge", func(p *auth.AuthorizeParams) { p.CodeChallenge = "" }, nil, "invalid_request"},
		{"plain challenge", func(p *auth.AuthorizeParams) { p.CodeChallengeMethod = "plain" }, nil, "invalid_request"},
		{"short challenge", func(p *auth.AuthorizeParams) { p.CodeChallenge = p.CodeChallenge[:42] }, nil, "invalid_request"},
		{"challenge out of syntax", func(p *auth.AuthorizeParams) { p.CodeChallenge = p.CodeChallenge[:42] + "+" }, nil, "invalid_request"},
		{"scope not allowed", func(p *auth.AuthorizeParams) { p.Scope = "files:write" }, nil, "invalid_scope"},
	} {
		p := ok
		tc.edit(&p)
		req, err := svc.CheckAuthorize(ctx, p)
		var ae *auth.AuthorizeError
		wantState := p.State
		if len(p.State) > 1024 {
			wantState = "" // not sent back
		}
		switch {
		case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.wantErr)
		case tc.code != "" && (!errors.As(err, &ae) || ae.Code != tc.code || req.RedirectURI != cb || req.State != wantState):
			t.Errorf("%s: %+v, %v; want an AuthorizeError %s back to %s with the state", tc.name, req, err, tc.code, cb)
		}
	}
}
