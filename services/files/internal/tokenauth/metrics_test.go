package tokenauth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cofferhq/coffer/services/files/internal/tokenauth"
)

// TestMetricsTransport: fetches through the transport are counted by outcome, and the key
// set's age runs from the last successful fetch.
func TestMetricsTransport(t *testing.T) {
	var status atomic.Int64 // what the server answers next
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
		w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()
	now := time.Unix(1_000_000, 0)
	reg := prometheus.NewRegistry()
	m := tokenauth.NewMetrics(reg, func() time.Time { return now })
	client := &http.Client{Transport: m.Transport(nil)}
	get := func() {
		t.Helper()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	age := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "coffer_files_jwks_age_seconds" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no coffer_files_jwks_age_seconds")
		return 0
	}
	if a := age(); !math.IsNaN(a) {
		t.Fatalf("age before any fetch = %v, want NaN", a)
	}
	for _, code := range []int{299, 200} { // every 2xx is a good fetch
		status.Store(int64(code))
		get()
	}
	now = now.Add(90 * time.Second)
	for _, code := range []int{http.StatusBadGateway, 300} {
		status.Store(int64(code))
		get()
	}
	if got := age(); got != 90 {
		t.Errorf("age = %v, want 90 (since the last good fetch)", got)
	}
	want := `
# HELP coffer_files_jwks_fetches_total JWK Set fetches (the first load and every refresh), by outcome: "ok" or "error".
# TYPE coffer_files_jwks_fetches_total counter
coffer_files_jwks_fetches_total{outcome="error"} 2
coffer_files_jwks_fetches_total{outcome="ok"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "coffer_files_jwks_fetches_total"); err != nil {
		t.Error(err)
	}
}

// TestMetricsWatchKeys: the key gauge reads 0 before the first key set and the number of
// keys after it.
func TestMetricsWatchKeys(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := jwksServer(t, &key.PublicKey)
	v, err := tokenauth.New(tokenauth.Options{JWKSURL: srv.URL, Issuer: issuer, Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	tokenauth.NewMetrics(reg, nil).WatchKeys(reg, v)
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "coffer_files_jwks_keys" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no coffer_files_jwks_keys")
		return 0
	}
	if g := gauge(); g != 0 {
		t.Fatalf("keys before the first fetch = %v, want 0", g)
	}
	runReady(t, v)
	if g := gauge(); g != 1 {
		t.Fatalf("keys after the first fetch = %v, want 1", g)
	}
}
