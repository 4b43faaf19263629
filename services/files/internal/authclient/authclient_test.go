package authclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/services/files/internal/authclient"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// The real auth service is exercised end to end in e2e/files_share_username_test.go; these
// servers stand in for the answers and failures that the real one cannot be made to give.

func TestLookupUser(t *testing.T) {
	var redirected atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
	}))
	defer target.Close()
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.EscapedPath() {
		case "/v1/users/bob":
			w.Write([]byte(`{"id":"0b5c0b5c-0000-4000-8000-000000000001","username":"bob"}`))
		case "/v1/users/a%2Fb%3Fc":
			w.Write([]byte(`{"id":"escaped","username":"a/b?c"}`))
		case "/v1/users/broken":
			w.Write([]byte(`{"id":`))
		case "/v1/users/spacey":
			w.Write([]byte(`{"id":"has space"}`))
		case "/v1/users/boom":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/v1/users/moved":
			http.Redirect(w, r, target.URL+"/steal", http.StatusFound)
		default:
			http.Error(w, `{"code":"not_found"}`, http.StatusNotFound)
		}
	}))
	defer auth.Close()
	c, err := authclient.New(authclient.Options{BaseURL: auth.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token, username, wantID string
		wantErr                       error
	}{
		{"found", "tok", "bob", "0b5c0b5c-0000-4000-8000-000000000001", nil},
		{"path-escaped", "tok", "a/b?c", "escaped", nil},
		{"not found", "tok", "nobody", "", files.ErrUserNotFound},
		{"token refused", "other", "bob", "", files.ErrUnavailable},
		{"server error", "tok", "boom", "", files.ErrUnavailable},
		{"malformed answer", "tok", "broken", "", files.ErrUnavailable},
		{"invalid id in answer", "tok", "spacey", "", files.ErrUnavailable},
		{"redirect not followed", "tok", "moved", "", files.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := c.LookupUser(context.Background(), tc.token, tc.username)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if id != tc.wantID {
				t.Fatalf("id = %q, want %q", id, tc.wantID)
			}
		})
	}
	if n := redirected.Load(); n != 0 {
		t.Fatalf("redirect target got %d requests, want 0", n)
	}
	if errors.Is(files.ErrUserNotFound, files.ErrNotFound) {
		t.Fatal("ErrUserNotFound must not read as a missing file")
	}
}

func TestLookupUserUnreachable(t *testing.T) {
	// A closed port: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	c, _ := authclient.New(authclient.Options{BaseURL: closed})
	if _, err := c.LookupUser(context.Background(), "tok", "bob"); !errors.Is(err, files.ErrUnavailable) {
		t.Fatalf("refused: err = %v, want ErrUnavailable", err)
	}

	// A server that accepts and never answers: the timeout ends the wait.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	c, _ = authclient.New(authclient.Options{BaseURL: "http://" + silent.Addr().String(), Timeout: 100 * time.Millisecond})
	if _, err := c.LookupUser(context.Background(), "tok", "bob"); !errors.Is(err, files.ErrUnavailable) {
		t.Fatalf("silent: err = %v, want ErrUnavailable", err)
	}

	// The caller going away is not an outage of the auth service.
	c, _ = authclient.New(authclient.Options{BaseURL: "http://" + silent.Addr().String(), Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.LookupUser(ctx, "tok", "bob"); errors.Is(err, files.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v, want context.Canceled and not ErrUnavailable", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "auth:8081", "ftp://auth", "http://"} {
		if _, err := authclient.New(authclient.Options{BaseURL: u}); err == nil {
			t.Errorf("New(%q) accepted it", u)
		}
	}
}
