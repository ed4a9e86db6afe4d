// Package clocktest provides a manual clock for tests.
package clocktest

import (
	"sort"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

// Clock is a clock.Clock whose time moves only when Advance or Set is
// called. Callbacks whose deadline is reached run synchronously inside
// Advance, in deadline order, on the caller's goroutine, so a test sees
// their effects as soon as Advance returns. The zero value is not usable;
// call New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*timer // guarded by mu; unordered
}

var _ clock.Clock = (*Clock)(nil)

// New returns a clock set to start.
func New(start time.Time) *Clock { return &Clock{now: start} }

type timer struct {
	c    *Clock
	at   time.Time
	seq  int
	f    func()
	done bool // guarded by c.mu
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the clock has advanced by d.
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	return true
}

// Pending returns the number of scheduled callbacks not yet run or stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// Advance moves the clock forward by d, running every callback that falls
// due, including callbacks scheduled by callbacks within the window.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		t := c.nextDue(target)
		if t == nil {
			break
		}
		t.f()
	}
	c.mu.Lock()
	c.now = target
	c.mu.Unlock()
}

// nextDue pops the earliest timer due at or before target and moves the
// clock to its deadline.
func (c *Clock) nextDue(target time.Time) *timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := c.timers[:0]
	for _, t := range c.timers {
		if !t.done {
			live = append(live, t)
		}
	}
	c.timers = live
	sort.Slice(c.timers, func(i, j int) bool {
		a, b := c.timers[i], c.timers[j]
		if a.at.Equal(b.at) {
			return a.seq < b.seq
		}
		return a.at.Before(b.at)
	})
	if len(c.timers) == 0 || c.timers[0].at.After(target) {
		return nil
	}
	t := c.timers[0]
	t.done = true
	if t.at.After(c.now) {
		c.now = t.at
	}
	return t
}
