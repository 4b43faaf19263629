package tokenauth

// CachedTokens is how many verified tokens v remembers, for the tests of the cache.
func (v *Verifier) CachedTokens() int {
	v.cache.mu.RLock()
	defer v.cache.mu.RUnlock()
	return len(v.cache.entries)
}
