package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestRunRejectsBadConfigurationNamingEachSetting(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), nil, env(map[string]string{
		"COFFER_AUTH_ACCESS_TOKEN_TTL": "forever",
		"COFFER_AUTH_KEK":              "too-short",
		"COFFER_AUTH_SIGNUP":           "maybe",
		// The reuse interval is a retry allowance, not a way to turn reuse detection off.
		"COFFER_AUTH_REFRESH_REUSE_INTERVAL": "1h",
		"COFFER_AUTH_SESSION_TTL":            "0s",
	}), nil, &stderr, &stderr)
	if err == nil {
		t.Fatal("run accepted a bad configuration")
	}
	for _, name := range []string{"COFFER_AUTH_DATABASE_URL", "COFFER_AUTH_ACCESS_TOKEN_TTL", "COFFER_AUTH_KEK", "COFFER_AUTH_SIGNUP",
		"COFFER_AUTH_REFRESH_REUSE_INTERVAL", "COFFER_AUTH_SESSION_TTL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if strings.Contains(err.Error(), "too-short") {
		t.Errorf("error echoes the key-encryption key:\n%v", err)
	}
}

// run serves until its context ends, then returns nil: the whole program, in process.
func TestRunServesAndShutsDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	k := make([]byte, 32)
	rand.Read(k)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, env(map[string]string{
			"COFFER_AUTH_ADDR":         addr,
			"COFFER_AUTH_DATABASE_URL": pgtest.NewDatabase(t),
			"COFFER_AUTH_KEK":          base64.StdEncoding.EncodeToString(k),
		}), nil, &logs, &logs)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if strings.Contains(logs.String(), base64.StdEncoding.EncodeToString(k)) {
		t.Fatal("the key-encryption key appears in the logs")
	}
}
