package tokenauth

import (
	"sync"
	"time"

	"github.com/cofferhq/coffer/pkg/accesstoken"
)

// verifiedCache remembers tokens whose signature and claims were verified, so a client that
// sends the same token on every request pays for one RSA verification, not one per request.
//
// An entry is used only while the token is unexpired and the key that signed it is still
// in the JWK Set, so a key removed after rotation stops its tokens, cached or not: uncached
// ones at once, cached ones within keyRecheck of keyfunc's refresh dropping the key.
type verifiedCache struct {
	mu      sync.RWMutex
	max     int
	entries map[string]cacheEntry
}

type cacheEntry struct {
	claims  *accesstoken.Claims
	kid     string
	key     any       // the public key that verified the token
	expires time.Time // exp plus leeway
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{max: max, entries: make(map[string]cacheEntry, max)}
}

func (c *verifiedCache) get(raw string, now time.Time) (cacheEntry, bool) {
	if c.max == 0 {
		return cacheEntry{}, false
	}
	c.mu.RLock()
	e, ok := c.entries[raw]
	c.mu.RUnlock()
	if !ok {
		return cacheEntry{}, false
	}
	if !now.Before(e.expires) {
		c.mu.Lock()
		delete(c.entries, raw)
		c.mu.Unlock()
		return cacheEntry{}, false
	}
	return e, true
}

func (c *verifiedCache) put(raw string, e cacheEntry) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Drop about a tenth of the entries; map order is random, so this is random eviction.
		n := c.max/10 + 1
		for key := range c.entries {
			delete(c.entries, key)
			if n--; n == 0 {
				break
			}
		}
	}
	c.entries[raw] = e
}

func (c *verifiedCache) remove(raw string) {
	c.mu.Lock()
	delete(c.entries, raw)
	c.mu.Unlock()
}
