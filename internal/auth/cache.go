package auth

import (
	"sync"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

// ttlCache is a bounded map from token hash to V whose entries expire ttl
// after they were put, by the injected clock. It is safe for concurrent use.
//
// When full, put first drops expired entries and then, if still full,
// arbitrary ones down to 7/8 of the bound, so the O(n) sweep runs at most
// once per max/8 insertions.
type ttlCache[V any] struct {
	clk clock.Clock
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[[32]byte]ttlEntry[V] // guarded by mu
}

type ttlEntry[V any] struct {
	val     V
	expires time.Time
}

func newTTLCache[V any](clk clock.Clock, ttl time.Duration, max int) *ttlCache[V] {
	return &ttlCache[V]{clk: clk, ttl: ttl, max: max, entries: make(map[[32]byte]ttlEntry[V])}
}

// get returns the live value for key.
func (c *ttlCache[V]) get(key [32]byte) (V, bool) {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.val, true
}

// put stores val under key for the cache's ttl.
func (c *ttlCache[V]) put(key [32]byte, val V) {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.shrinkLocked(now)
	}
	c.entries[key] = ttlEntry[V]{val: val, expires: now.Add(c.ttl)}
}

// shrinkLocked makes room: expired entries first, then arbitrary ones
// (map order is random) down to 7/8 of max.
func (c *ttlCache[V]) shrinkLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	target := c.max - c.max/8
	for k := range c.entries {
		if len(c.entries) < target {
			break
		}
		delete(c.entries, k)
	}
}

// len returns the number of entries, expired ones included.
func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
