// Package accesscache keeps, on one file node, the file rows its users were last granted
// (by owning the file or by a share), so that a download of a file read a moment ago needs
// no database round trip. It stays exact through the revocation notices of package fence:
// every transaction that takes access away or changes a row publishes a notice, every node
// drops what the notice names before it acknowledges it, and the revoking request waits for
// those acknowledgements (docs/SCALING.md, "Node-local access cache").
//
// What it caches is only ever a grant that the database gave: no refusal, no file waiting
// for the scanner or rejected by it, no link (a link's byte budget is counted in PostgreSQL
// on every download) and nothing about passwords or their throttles.
package accesscache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/services/files/internal/fence"
	"github.com/cofferhq/coffer/services/files/internal/files"
)

// Config bounds a Cache.
type Config struct {
	// Size is the most (file, user) grants held; past it, grants are evicted. Default 100,000
	// (a few hundred bytes each).
	Size int
	// TTL is how long a grant is used before the database is asked again. Revocations do not
	// wait for it (notices drop grants at once); it bounds what a change made without a
	// notice, by a node of an earlier release, can hide. Default 1m.
	TTL time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Size: 100_000, TTL: time.Minute} }

// Trust says whether the node's notice subscription may be relied on now (fence.Listener):
// false while it is down, or its lease has run out without the node hearing itself.
type Trust interface {
	Fence() (fence.LSN, bool)
}

// Cache holds grants. Its methods are safe for concurrent use.
type Cache struct {
	cfg   Config
	trust Trust
	now   func() time.Time

	mu    sync.RWMutex
	files map[uuid.UUID]*entry
	n     int    // grants held
	gen   uint64 // moves on every drop: a fill begun before it is refused

	hits, misses, bypassed, drops atomic.Uint64
}

// entry is one file row and the users it was granted to, each until when.
type entry struct {
	file    files.File
	readers map[string]time.Time
}

// New returns an empty cache trusting what trust says; now may be nil (time.Now).
func New(cfg Config, trust Trust, now func() time.Time) *Cache {
	d := DefaultConfig()
	if cfg.Size <= 0 {
		cfg.Size = d.Size
	}
	if cfg.TTL <= 0 {
		cfg.TTL = d.TTL
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{cfg: cfg, trust: trust, now: now, files: map[uuid.UUID]*entry{}}
}

// Get returns file id as granted to user, if held, unexpired, and the subscription that
// keeps the cache exact is trusted now.
func (c *Cache) Get(id uuid.UUID, user string) (files.File, bool) {
	if _, ok := c.trust.Fence(); !ok {
		c.bypassed.Add(1)
		return files.File{}, false
	}
	now := c.now()
	c.mu.RLock()
	e := c.files[id]
	var f files.File
	ok := false
	if e != nil {
		if until, held := e.readers[user]; held && now.Before(until) {
			f, ok = e.file, true
		}
	}
	c.mu.RUnlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return f, ok
}

// Ticket is taken before the database read that may fill the cache.
type Ticket struct {
	gen uint64
	ok  bool
}

// Begin returns the ticket a fill needs: taken before the read, it makes Put refuse a row
// read before a notice that this node has since processed (the notice dropped nothing, the
// row was not there yet, and the read may predate the revocation).
func (c *Cache) Begin() Ticket {
	_, trusted := c.trust.Fence()
	c.mu.RLock()
	g := c.gen
	c.mu.RUnlock()
	// Untrusted: notices may be missing, so nothing read now may be kept.
	return Ticket{gen: g, ok: trusted}
}

// Put records that the database granted f to user, unless a notice arrived since t was
// taken, the subscription was untrusted then, or f is not servable (the scanner's verdict
// would change it without a notice).
func (c *Cache) Put(t Ticket, user string, f files.File) {
	if !t.ok || files.Servable(f) != nil || f.Status != files.StatusAvailable {
		return
	}
	until := c.now().Add(c.cfg.TTL)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != t.gen {
		return
	}
	e := c.files[f.ID]
	if e == nil {
		e = &entry{file: f, readers: make(map[string]time.Time, 1)}
		c.files[f.ID] = e
	}
	if _, held := e.readers[user]; !held {
		c.n++
	}
	e.file = f
	e.readers[user] = until
	for c.n > c.cfg.Size {
		c.evictLocked(f.ID)
	}
}

// evictLocked drops one file other than keep (map order is random enough), or keep itself
// if it is all there is.
func (c *Cache) evictLocked(keep uuid.UUID) {
	for id, e := range c.files {
		if id != keep || len(c.files) == 1 {
			c.n -= len(e.readers)
			delete(c.files, id)
			return
		}
	}
}

// Drop takes a fence notice (fence.Listener.Subscribe): it drops every grant of the file the
// notice names, and everything for a notice it cannot place (a lost subscription, a kind
// without a file). A notice of access given (Grant) changes nothing.
func (c *Cache) Drop(n fence.Notice) {
	if n.Grant {
		return // access given (a new file, a new share) never makes a held grant wrong
	}
	c.drops.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if n.Kind != fence.SubscriptionLost && n.FileID != uuid.Nil {
		if e := c.files[n.FileID]; e != nil {
			c.n -= len(e.readers)
			delete(c.files, n.FileID)
		}
		return
	}
	if n.Kind == fence.RequestClosed {
		return // a request's files stay as they were; no grant depends on the request
	}
	clear(c.files)
	c.n = 0
}

// Stats are counters since the start.
type Stats struct {
	Hits     uint64 // answered from the cache
	Misses   uint64 // not held: asked the database
	Bypassed uint64 // not consulted, the subscription being untrusted
	Drops    uint64 // notices taken
	Grants   int    // (file, user) grants held now
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	n := c.n
	c.mu.RUnlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Bypassed: c.bypassed.Load(), Drops: c.drops.Load(), Grants: n}
}
