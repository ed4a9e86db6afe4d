package auth

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/presenced/presenced/internal/clock"
)

// minSweepAt is the map size below which the rate limiter never sweeps.
const minSweepAt = 1024

// RateLimiter is a token bucket per principal (keyed by Principal.TokenID).
// It is safe for concurrent use.
//
// Memory stays bounded by the number of recently active ids: once the map
// has grown past a threshold, every bucket that has refilled completely is
// dropped, which loses nothing because a new bucket starts full. The
// threshold then doubles from what is left, so sweeps cost O(1) amortised.
type RateLimiter struct {
	limit rate.Limit // 0: unlimited
	burst int
	clk   clock.Clock

	mu      sync.Mutex
	buckets map[string]*rate.Limiter // guarded by mu
	sweepAt int                      // guarded by mu; sweep when len(buckets) reaches it
}

// NewRateLimiter returns a limiter allowing each id perSecond requests per
// second on average and bursts of burst (at least 1). perSecond <= 0 means
// unlimited.
func NewRateLimiter(perSecond float64, burst int, clk clock.Clock) *RateLimiter {
	if perSecond < 0 || math.IsNaN(perSecond) {
		perSecond = 0
	}
	return &RateLimiter{
		limit:   rate.Limit(perSecond),
		burst:   max(burst, 1),
		clk:     clk,
		buckets: make(map[string]*rate.Limiter),
		sweepAt: minSweepAt,
	}
}

// Allow takes one token from id's bucket. When the bucket is empty it
// reports false and how long until a token will be available.
func (l *RateLimiter) Allow(id string) (ok bool, retryAfter time.Duration) {
	if l.limit == 0 {
		return true, 0
	}
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[id]
	if !found {
		if len(l.buckets) >= l.sweepAt {
			l.sweepLocked(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[id] = b
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(l.limit) * float64(time.Second)))
	return false, max(wait, time.Nanosecond)
}

// sweepLocked drops the buckets that are full again.
func (l *RateLimiter) sweepLocked(now time.Time) {
	for id, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, id)
		}
	}
	l.sweepAt = max(minSweepAt, 2*len(l.buckets))
}

// size returns the number of buckets held, for tests.
func (l *RateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
