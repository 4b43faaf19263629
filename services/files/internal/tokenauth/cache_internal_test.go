package tokenauth

import (
	"fmt"
	"testing"
	"time"
)

// TestVerifiedCacheBounded: a full cache drops about a tenth of its entries (at least one)
// before it takes a new one, so it never grows past its size and always keeps the newest.
func TestVerifiedCacheBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, max := range []int{1, 9, 10, 100} {
		c := newVerifiedCache(max)
		for i := range max {
			c.put(fmt.Sprint(i), cacheEntry{expires: now.Add(time.Hour)})
		}
		if len(c.entries) != max {
			t.Fatalf("max %d: %d entries after filling it, want %d", max, len(c.entries), max)
		}
		c.put("new", cacheEntry{expires: now.Add(time.Hour)})
		if _, ok := c.get("new", now); !ok {
			t.Fatalf("max %d: the newest entry is not kept", max)
		}
		if want := max - (max/10 + 1) + 1; len(c.entries) != want {
			t.Fatalf("max %d: %d entries after one more, want %d (a tenth plus one dropped)", max, len(c.entries), want)
		}
	}
	// Expired entries are not served and are dropped when asked for.
	c := newVerifiedCache(4)
	c.put("old", cacheEntry{expires: now})
	if _, ok := c.get("old", now); ok || len(c.entries) != 0 {
		t.Fatalf("an entry at its expiry was served (or kept: %d entries)", len(c.entries))
	}
	// Size 0 is no cache at all.
	off := newVerifiedCache(0)
	off.put("x", cacheEntry{expires: now.Add(time.Hour)})
	if _, ok := off.get("x", now); ok || len(off.entries) != 0 {
		t.Fatal("a cache of size 0 kept an entry")
	}
}

// TestCacheSizeOption: 0 means the default of 10,000 entries, a negative size turns the
// cache off, and the refresh interval defaults to DefaultRefreshInterval (5 minutes).
func TestCacheSizeOption(t *testing.T) {
	for size, want := range map[int]int{0: 10_000, -1: 0, 7: 7} {
		v, err := New(Options{JWKSURL: "http://127.0.0.1:1/jwks", Issuer: "https://i", Audience: "a", CacheSize: size})
		if err != nil {
			t.Fatal(err)
		}
		if v.cache.max != want {
			t.Errorf("CacheSize %d: cache of %d, want %d", size, v.cache.max, want)
		}
		if v.opts.RefreshInterval != 5*time.Minute {
			t.Errorf("RefreshInterval %v, want 5m", v.opts.RefreshInterval)
		}
	}
}
