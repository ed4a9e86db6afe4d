// Package clock makes time a dependency: components that expire, refresh,
// linger or coalesce read a Clock so that tests drive time exactly
// (see clocktest) instead of sleeping.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and schedules callbacks. Implementations are safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed, unless
	// the returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled callback.
type Timer interface {
	// Stop prevents the callback from running and reports whether it did
	// so (false when it already ran or was stopped).
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Ticker delivers a tick on the returned channel every period of c's
// time until stop is called. Ticks are dropped, not queued, while the
// receiver is busy, like time.Ticker's.
func Ticker(c Clock, period time.Duration) (ticks <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	var mu sync.Mutex
	stopped := false
	var t Timer
	var arm func()
	arm = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		t = c.AfterFunc(period, func() {
			select {
			case ch <- struct{}{}:
			default:
			}
			arm()
		})
	}
	arm()
	return ch, func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}
