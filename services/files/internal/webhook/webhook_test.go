package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

// TestSignStandardVector: the signature of the Standard Webhooks specification's own example.
func TestSignStandardVector(t *testing.T) {
	key, err := webhook.SecretKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	now := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	if !webhook.Verify(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v0,x "+got, body, now, 5*time.Minute) {
		t.Error("Verify refused a genuine signature")
	}
	for name, tc := range map[string]struct {
		id, ts string
		body   []byte
		now    time.Time
	}{
		"other id":   {"msg_other", "1614265330", body, now},
		"other body": {"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 1}`), now},
		"replayed":   {"msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, now.Add(6 * time.Minute)},
		"bad time":   {"msg_p5jXN8AQM9LWM0D4loKWxJek", "16142x", body, now},
	} {
		if webhook.Verify(key, tc.id, tc.ts, got, tc.body, tc.now, 5*time.Minute) {
			t.Errorf("%s: Verify accepted it", name)
		}
	}
}

func TestSecretKey(t *testing.T) {
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if k, err := webhook.SecretKey(s); err != nil || len(k) != 32 {
		t.Fatalf("SecretKey(NewSecret()) = %d bytes, %v", len(k), err)
	}
	for _, bad := range []string{"", "whsec_", "whsec_c2hvcnQ=", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!"} {
		if _, err := webhook.SecretKey(bad); err == nil {
			t.Errorf("SecretKey(%q) accepted", bad)
		}
	}
}

// TestGuard: loopback, link-local (cloud metadata) and the other local addresses are refused,
// both when a subscription is made and when a request connects, unless allowed.
func TestGuard(t *testing.T) {
	g := webhook.Guard{}
	for _, a := range []string{"127.0.0.1", "::1", "169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "fd00:ec2::254", "100.100.100.200", "::ffff:127.0.0.1"} {
		if g.Allowed(netip.MustParseAddr(a)) {
			t.Errorf("Allowed(%s) = true", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "10.1.2.3", "2001:db8::1"} {
		if !g.Allowed(netip.MustParseAddr(a)) {
			t.Errorf("Allowed(%s) = false", a)
		}
	}
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://localhost/", "ftp://example.com/", "http://user:pw@example.com/", "/relative"} {
		err := g.CheckURL(ctx, u)
		if !errors.Is(err, files.ErrInvalidInput) {
			t.Errorf("CheckURL(%s) = %v, want invalid input", u, err)
		}
	}
	if err := (webhook.Guard{AllowLocal: true}).CheckURL(ctx, "http://127.0.0.1:9/x"); err != nil {
		t.Errorf("AllowLocal: CheckURL = %v", err)
	}

	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/target", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	secret, _ := webhook.NewSecret()
	refused := webhook.NewSender(g.Client(time.Second), nil)
	if _, err := refused.Post(ctx, srv.URL+"/x", secret, "msg_1", []byte(`{}`)); !errors.Is(err, webhook.ErrRefusedAddress) {
		t.Errorf("Post to loopback = %v, want ErrRefusedAddress", err)
	}
	if hits != 0 {
		t.Errorf("receiver saw %d requests, want 0", hits)
	}
	allowed := webhook.NewSender(webhook.Guard{AllowLocal: true}.Client(time.Second), nil)
	if _, err := allowed.Post(ctx, srv.URL+"/x", secret, "msg_1", []byte(`{}`)); err != nil {
		t.Errorf("Post allowed: %v", err)
	}
	resp, err := allowed.Post(ctx, srv.URL+"/redirect", secret, "msg_1", []byte(`{}`))
	if err == nil || resp.Status != http.StatusFound || hits != 2 {
		t.Errorf("redirect: status %d, err %v, hits %d; want 302 not followed, an error, 2 hits", resp.Status, err, hits)
	}
}
