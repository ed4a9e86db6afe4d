// Package cache wraps a directory.Directory with positive and negative
// caching of Lookup, request collapsing and metrics.
//
// A found entry is kept for Config.TTL and an ErrNotFound for
// Config.NegativeTTL; every other error (ErrUnavailable, ErrInvalid, a
// cancelled context) goes back to the caller and is not kept, so a
// directory that comes back is used at once. Emails are keys
// case-insensitively. Concurrent Lookups of one email that miss make one
// call to the directory: the first caller makes it with its own context
// and the others wait for its answer; should the first caller's context
// end before the answer, a waiter whose context is alive calls again.
//
// The cache holds at most Config.MaxEntries entries, positive and negative
// together, and evicts the least recently used when full. Expired entries
// are dropped when next looked up, or evicted like any other.
//
// Search is not cached: it is passed through and timed. Neither is
// Authenticate, a password check that must reach the directory every time:
// it is passed through and timed when the directory is a
// directory.Authenticator, and fails with ErrUnavailable otherwise.
package cache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/directory"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultTTL         = 10 * time.Minute
	DefaultNegativeTTL = time.Minute
	DefaultMaxEntries  = 100_000
)

// Config configures a Cache. The zero value is the defaults.
type Config struct {
	// TTL is how long a found entry is served from the cache (default
	// DefaultTTL; negative: found entries are not cached).
	TTL time.Duration
	// NegativeTTL is how long an ErrNotFound is served from the cache
	// (default DefaultNegativeTTL; negative: not cached).
	NegativeTTL time.Duration
	// MaxEntries bounds the entries held (default DefaultMaxEntries).
	MaxEntries int
	// Clock tells the time for expiry and query timing (default
	// clock.Real).
	Clock clock.Clock
	// Registerer receives the cache's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Cache is a caching directory.Directory. It is safe for concurrent use.
type Cache struct {
	d       directory.Directory
	cfg     Config
	metrics *metrics

	// mu guards the fields below.
	mu      sync.Mutex
	entries map[string]*list.Element // key -> element of lru holding *entry
	lru     *list.List               // most recently used first
	flights map[string]*flight       // key -> the call in progress

	// onJoin, when set (in tests), is called each time a Lookup waits
	// for another's call.
	onJoin func()
}

var (
	_ directory.Directory     = (*Cache)(nil)
	_ directory.HealthChecker = (*Cache)(nil)
	_ directory.Authenticator = (*Cache)(nil)
)

// entry is one cached answer.
type entry struct {
	key     string
	value   directory.Entry
	err     error // the ErrNotFound of a negative entry, else nil
	expires time.Time
}

// flight is a Lookup call in progress, shared by every Lookup of its key.
type flight struct {
	done chan struct{} // closed once the fields below are set
	// value and err are the answer; leaderGone reports whether the
	// call failed because its caller's context ended.
	value      directory.Entry
	err        error
	leaderGone bool
}

// New returns a Cache in front of d.
func New(d directory.Directory, cfg Config) *Cache {
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	return &Cache{
		d:       d,
		cfg:     cfg,
		metrics: newMetrics(cfg.Registerer),
		entries: make(map[string]*list.Element),
		lru:     list.New(),
		flights: make(map[string]*flight),
	}
}

// Lookup returns the cached answer for email, or asks the directory once
// for all concurrent callers and caches what it says (see the package
// doc).
func (c *Cache) Lookup(ctx context.Context, email string) (directory.Entry, error) {
	key := strings.ToLower(email)
	for {
		c.mu.Lock()
		if e, ok := c.getLocked(key); ok {
			c.mu.Unlock()
			if e.err != nil {
				c.metrics.lookups.WithLabelValues("negative_hit").Inc()
			} else {
				c.metrics.lookups.WithLabelValues("hit").Inc()
			}
			return e.value, e.err
		}
		f, ok := c.flights[key]
		if !ok {
			f = &flight{done: make(chan struct{})}
			c.flights[key] = f
			c.mu.Unlock()
			c.call(ctx, key, email, f)
			return c.answer(f)
		}
		onJoin := c.onJoin
		c.mu.Unlock()
		if onJoin != nil {
			onJoin()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			c.metrics.lookups.WithLabelValues("error").Inc()
			return directory.Entry{}, fmt.Errorf("directory cache: lookup %s: %w: %w", email, directory.ErrUnavailable, ctx.Err())
		}
		if f.leaderGone && ctx.Err() == nil {
			continue // the caller that asked gave up; ask again
		}
		return c.answer(f)
	}
}

// call asks the directory for f's answer, caches it, and completes f.
func (c *Cache) call(ctx context.Context, key, email string, f *flight) {
	start := c.cfg.Clock.Now()
	f.value, f.err = c.d.Lookup(ctx, email)
	now := c.cfg.Clock.Now()
	c.metrics.query.WithLabelValues("lookup").Observe(now.Sub(start).Seconds())
	f.leaderGone = f.err != nil && ctx.Err() != nil

	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case f.err == nil && c.cfg.TTL > 0:
		c.putLocked(&entry{key: key, value: f.value, expires: now.Add(c.cfg.TTL)})
	case errors.Is(f.err, directory.ErrNotFound) && c.cfg.NegativeTTL > 0:
		c.putLocked(&entry{key: key, err: f.err, expires: now.Add(c.cfg.NegativeTTL)})
	}
	delete(c.flights, key)
	close(f.done)
}

// answer returns f's answer, counted as a miss or an error.
func (c *Cache) answer(f *flight) (directory.Entry, error) {
	if f.err != nil && !errors.Is(f.err, directory.ErrNotFound) {
		c.metrics.lookups.WithLabelValues("error").Inc()
	} else {
		c.metrics.lookups.WithLabelValues("miss").Inc()
	}
	return f.value, f.err
}

// getLocked returns the live entry of key, marking it used, and drops it
// if it has expired. c.mu is held.
func (c *Cache) getLocked(key string) (*entry, bool) {
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !c.cfg.Clock.Now().Before(e.expires) {
		c.removeLocked(el)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e, true
}

// putLocked stores e, replacing an entry of its key and evicting the least
// recently used entries beyond MaxEntries. c.mu is held.
func (c *Cache) putLocked(e *entry) {
	if el, ok := c.entries[e.key]; ok {
		c.removeLocked(el)
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.metrics.entries.Inc()
	for c.lru.Len() > c.cfg.MaxEntries {
		c.removeLocked(c.lru.Back())
	}
}

// removeLocked drops the entry at el. c.mu is held.
func (c *Cache) removeLocked(el *list.Element) {
	c.lru.Remove(el)
	delete(c.entries, el.Value.(*entry).key)
	c.metrics.entries.Dec()
}

// Len returns the number of entries held, expired ones included until
// they are dropped.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Search passes the search to the directory, timing it.
func (c *Cache) Search(ctx context.Context, text string, limit int) ([]directory.Card, error) {
	start := c.cfg.Clock.Now()
	cards, err := c.d.Search(ctx, text, limit)
	c.metrics.query.WithLabelValues("search").Observe(c.cfg.Clock.Now().Sub(start).Seconds())
	return cards, err
}

// Healthy reports the directory's health when it is a
// directory.HealthChecker, and nil otherwise.
func (c *Cache) Healthy(ctx context.Context) error {
	if hc, ok := c.d.(directory.HealthChecker); ok {
		return hc.Healthy(ctx)
	}
	return nil
}

// Authenticate passes the call to the directory when it is a
// directory.Authenticator, timing it; the answer is never cached, so a
// changed password or group membership counts at once. Otherwise it
// returns an error wrapping directory.ErrUnavailable.
func (c *Cache) Authenticate(ctx context.Context, login, password, group string) (directory.Account, error) {
	a, ok := c.d.(directory.Authenticator)
	if !ok {
		return directory.Account{}, fmt.Errorf("directory cache: %w: the directory cannot authenticate", directory.ErrUnavailable)
	}
	start := c.cfg.Clock.Now()
	acct, err := a.Authenticate(ctx, login, password, group)
	c.metrics.query.WithLabelValues("authenticate").Observe(c.cfg.Clock.Now().Sub(start).Seconds())
	return acct, err
}

// Close closes the wrapped directory when it is an io.Closer (an LDAP
// directory's connection pool), so that the gateway releases it when a
// new configuration replaces it.
func (c *Cache) Close() error {
	if cl, ok := c.d.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
