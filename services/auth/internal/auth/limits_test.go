package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// TestInputLimits: each length limit of sign-in and client input admits its longest value
// and refuses one byte more.
func TestInputLimits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.service(auth.Config{}, cheap)

	t.Run("sign-in", func(t *testing.T) {
		name, pw := strings.Repeat("u", 64), strings.Repeat("p", 1024) // maxUsernameLen, MaxPasswordBytes
		if _, err := svc.CreateUser(ctx, name, pw); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, name, pw, "192.0.2.1"); err != nil {
			t.Errorf("longest username and password: %v", err)
		}
		if _, err := svc.Authenticate(ctx, name, pw+"p", "192.0.2.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("password one byte too long: %v, want ErrInvalidCredentials", err)
		}
	})

	t.Run("redirect URI", func(t *testing.T) {
		uri := "https://app.example/cb?"
		uri += strings.Repeat("q", 2000-len(uri))
		if _, _, err := svc.RegisterClient(ctx, auth.ClientSpec{ID: "longest", Public: true, Scopes: []string{"files:read"}, RedirectURIs: []string{uri}}); err != nil {
			t.Errorf("redirect URI of 2000 bytes: %v", err)
		}
		if _, _, err := svc.RegisterClient(ctx, auth.ClientSpec{ID: "too-long", Public: true, Scopes: []string{"files:read"}, RedirectURIs: []string{uri + "q"}}); !errors.Is(err, auth.ErrInvalidInput) {
			t.Errorf("redirect URI of 2001 bytes: %v, want ErrInvalidInput", err)
		}
	})

	t.Run("CORS origin", func(t *testing.T) {
		origin := func(n int) string {
			return "https://" + strings.Repeat("o", n-len("https://")-len(".example")) + ".example"
		}
		longest, over := origin(300), origin(301)
		if _, _, err := svc.RegisterClient(ctx, auth.ClientSpec{ID: "web", Public: true, Scopes: []string{"files:read"},
			RedirectURIs: []string{"https://app.example/cb"}, Origins: []string{longest, over}}); err != nil {
			t.Fatal(err)
		}
		for o, want := range map[string]bool{longest: true, over: false} {
			if ok, err := svc.OriginAllowed(ctx, o); err != nil || ok != want {
				t.Errorf("origin of %d bytes: %v, %v; want %v", len(o), ok, err, want)
			}
		}
	})
}
