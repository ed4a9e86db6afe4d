package adminauth

import (
	"net/netip"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

// Login rate-limit defaults: 5 failures within 15 minutes lock the key
// for 15 minutes.
const (
	DefaultMaxFailures   = 5
	DefaultFailureWindow = 15 * time.Minute
)

// minSweepAt is the table size below which the limiter never sweeps.
const minSweepAt = 1024

// failures counts recent failed logins per key and locks a key that has
// reached the limit. Unlike auth.RateLimiter (a token bucket every request
// draws from) only failures count here, so an administrator who logs in
// correctly is never slowed down, and a lock lasts a known time that
// Retry-After can state. It is safe for concurrent use.
//
// Memory stays bounded by the keys that failed recently: when the table
// has grown past a threshold, entries whose window and lock are over are
// dropped and the threshold doubles from what is left.
type failures struct {
	max    int
	window time.Duration
	clk    clock.Clock

	mu      sync.Mutex
	entries map[string]*failureEntry // guarded by mu
	sweepAt int                      // guarded by mu
}

type failureEntry struct {
	count       int
	windowStart time.Time
	lockedUntil time.Time
}

func newFailures(max int, window time.Duration, clk clock.Clock) *failures {
	return &failures{max: max, window: window, clk: clk, entries: make(map[string]*failureEntry), sweepAt: minSweepAt}
}

// locked reports whether any of keys is locked, and for how long the
// longest lock will last.
func (f *failures) locked(keys ...string) (retryAfter time.Duration, locked bool) {
	now := f.clk.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if e, ok := f.entries[k]; ok && now.Before(e.lockedUntil) {
			retryAfter = max(retryAfter, e.lockedUntil.Sub(now))
		}
	}
	return retryAfter, retryAfter > 0
}

// fail records one failure for each of keys.
func (f *failures) fail(keys ...string) {
	now := f.clk.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		e, ok := f.entries[k]
		if !ok {
			if len(f.entries) >= f.sweepAt {
				f.sweepLocked(now)
			}
			e = &failureEntry{}
			f.entries[k] = e
		}
		if !now.Before(e.windowStart.Add(f.window)) {
			e.count, e.windowStart = 0, now
		}
		e.count++
		if e.count >= f.max {
			e.lockedUntil = now.Add(f.window)
			e.count, e.windowStart = 0, now
		}
	}
}

// reset forgets the failures of key, after a successful login.
func (f *failures) reset(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.entries, key)
}

func (f *failures) sweepLocked(now time.Time) {
	for k, e := range f.entries {
		if !now.Before(e.windowStart.Add(f.window)) && !now.Before(e.lockedUntil) {
			delete(f.entries, k)
		}
	}
	f.sweepAt = max(minSweepAt, 2*len(f.entries))
}

// accountKey and ipKey keep the two kinds of key apart in one table.
func accountKey(name string) string { return "a:" + name }

// ipKey keys an IPv6 client by its /64, since one host usually holds a
// whole /64 and could otherwise rotate through it.
func ipKey(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "n:" + p.String()
	}
	return "n:" + addr.String()
}
