package presence

import (
	"sync"
	"sync/atomic"
)

// user is one app user's subscriptions and stream listeners.
type user struct {
	email string
	byKey map[string]*Subscription // guarded by Hub.mu

	lmu       sync.Mutex                  // serialises changes of listeners
	listeners atomic.Pointer[[]*Listener] // copy-on-write; read lock-free by fan-out
	total     *atomic.Int64               // the hub's count of listeners of every user
}

func newUser(email string, total *atomic.Int64) *user {
	u := &user{email: email, byKey: make(map[string]*Subscription), total: total}
	empty := []*Listener{}
	u.listeners.Store(&empty)
	return u
}

// offer queues ev to every listener and counts the outcomes.
func (u *user) offer(ev Event) (delivered, dropped int) {
	for _, l := range *u.listeners.Load() {
		if l.Offer(ev) {
			delivered++
		} else {
			dropped++
		}
	}
	return delivered, dropped
}

func (u *user) hasListeners() bool { return len(*u.listeners.Load()) > 0 }

func (u *user) addListener(l *Listener) {
	u.lmu.Lock()
	defer u.lmu.Unlock()
	old := *u.listeners.Load()
	next := make([]*Listener, 0, len(old)+1)
	next = append(append(next, old...), l)
	u.listeners.Store(&next)
	u.total.Add(1)
}

func (u *user) removeListener(l *Listener) {
	u.lmu.Lock()
	defer u.lmu.Unlock()
	old := *u.listeners.Load()
	next := make([]*Listener, 0, len(old))
	for _, x := range old {
		if x != l {
			next = append(next, x)
		}
	}
	u.listeners.Store(&next)
	u.total.Add(int64(len(next) - len(old)))
}

// userLocked returns the user entry for email, creating it. Hub.mu must be
// held for writing.
func (h *Hub) userLocked(email string) *user {
	u := h.users[email]
	if u == nil {
		u = newUser(email, &h.listeners)
		h.users[email] = u
	}
	return u
}

// Listen attaches a listener for user's events with a queue of queueSize
// events. While a user has a listener, their subscriptions do not expire.
// Close the listener to detach it.
func (h *Hub) Listen(email string, queueSize int) *Listener {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.userLocked(email)
	l := NewListener(email, queueSize, u.removeListener)
	u.addListener(l)
	for _, s := range u.byKey {
		h.touch(s)
	}
	return l
}
