package presence

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/status"
)

// contact is one watched-or-lingering contact, shared by every
// subscription that includes it.
type contact struct {
	email   string
	current atomic.Pointer[Change] // last delivered state; never nil

	// Guarded by Hub.mu (write to change; read lock to read).
	refs   []memberRef
	wanted bool        // a backend watch is wanted
	linger clock.Timer // pending release after the last ref went

	mu      sync.Mutex // guards the coalescing state below
	lastAt  time.Time  // when current was delivered
	pending *status.Presence
	flush   clock.Timer
}

// memberRef points from a contact to its place in a subscription.
type memberRef struct {
	sub *Subscription
	idx int32 // index into sub.members
}

// contactLocked returns the contact for email, creating it in its initial
// state. Hub.mu must be held for writing.
func (h *Hub) contactLocked(email string) *contact {
	if c := h.contacts[email]; c != nil {
		return c
	}
	c := &contact{email: email}
	initial := status.UnknownBecause(status.Pending)
	if !h.allow.Load().Allows(email) {
		initial = status.UnknownBecause(status.DomainNotAllowed)
	}
	c.current.Store(&Change{Contact: email, Presence: initial})
	h.contacts[email] = c
	return c
}

// refLocked adds the membership s.members[i] to its contact.
func refLocked(s *Subscription, i int) {
	m := &s.members[i]
	m.refIdx = int32(len(m.c.refs))
	m.c.refs = append(m.c.refs, memberRef{sub: s, idx: int32(i)})
}

// unrefLocked removes the membership s.members[i] from its contact.
func unrefLocked(s *Subscription, i int) {
	m := &s.members[i]
	c := m.c
	last := len(c.refs) - 1
	pos := int(m.refIdx)
	if pos != last {
		moved := c.refs[last]
		c.refs[pos] = moved
		moved.sub.members[moved.idx].refIdx = int32(pos)
	}
	c.refs[last] = memberRef{}
	c.refs = c.refs[:last]
}

// settleLocked brings c's watch in line with its refs after a change of
// membership: a contact with refs is wanted (if allowed); one without refs
// lingers, then is released.
func (h *Hub) settleLocked(c *contact) {
	if len(c.refs) > 0 {
		if c.linger != nil {
			c.linger.Stop()
			c.linger = nil
		}
		if !c.wanted && h.allow.Load().Allows(c.email) {
			h.wantLocked(c)
		}
		return
	}
	if c.linger != nil || h.contacts[c.email] != c {
		return
	}
	if !c.wanted || h.cfg.WatchLinger <= 0 {
		h.releaseLocked(c)
		return
	}
	var t clock.Timer
	t = h.clk.AfterFunc(h.cfg.WatchLinger, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if c.linger == t && len(c.refs) == 0 {
			c.linger = nil
			h.releaseLocked(c)
		}
	})
	c.linger = t
}

func (h *Hub) wantLocked(c *contact) {
	c.wanted = true
	h.wanted++
	h.watches.SetWanted(c.email, true)
}

func (h *Hub) unwantLocked(c *contact) {
	if !c.wanted {
		return
	}
	c.wanted = false
	h.wanted--
	h.watches.SetWanted(c.email, false)
}

// releaseLocked forgets c entirely. A pending linger is stopped: once c
// is forgotten, a later contact of the same email is a new *contact that
// the old timer must not release.
func (h *Hub) releaseLocked(c *contact) {
	h.unwantLocked(c)
	if c.linger != nil {
		c.linger.Stop()
		c.linger = nil
	}
	c.mu.Lock()
	if c.flush != nil {
		c.flush.Stop()
		c.flush = nil
	}
	c.pending = nil
	c.mu.Unlock()
	if h.contacts[c.email] == c {
		delete(h.contacts, c.email)
	}
}

// Update records what the backend reports about contact. Rapid updates are
// coalesced: at most one delivery per contact per CoalesceInterval, always
// ending on the latest state. Updates for contacts the Hub does not want
// watched are ignored. Update implements backend.Sink.
func (h *Hub) Update(email string, p status.Presence) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c := h.contacts[email]
	if c == nil || !c.wanted {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := h.clk.Now()
	due := c.lastAt.Add(h.cfg.CoalesceInterval)
	if c.flush == nil && !now.Before(due) {
		h.deliverLocked(c, p, now)
		return
	}
	if c.pending != nil {
		h.m.coalesced.Inc()
	}
	c.pending = &p
	if c.flush == nil {
		c.flush = h.clk.AfterFunc(due.Sub(now), func() { h.flushPending(c) })
	}
}

func (h *Hub) flushPending(c *contact) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flush = nil
	p := c.pending
	c.pending = nil
	if p == nil || !c.wanted || h.contacts[c.email] != c {
		return
	}
	h.deliverLocked(c, *p, h.clk.Now())
}

// forceLocked delivers p at once, discarding pending backend state. Used
// for states presenced decides itself (allowlist changes). Hub.mu must be
// held.
func (h *Hub) forceLocked(c *contact, p status.Presence) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flush != nil {
		c.flush.Stop()
		c.flush = nil
	}
	c.pending = nil
	h.deliverLocked(c, p, h.clk.Now())
}

// deliverLocked makes p c's current state and fans it out to every
// subscription holding c. Hub.mu (read or write) and c.mu must be held.
func (h *Hub) deliverLocked(c *contact, p status.Presence, now time.Time) {
	cur := c.current.Load().Presence
	if p.Since.IsZero() {
		// Backends that do not time-stamp changes: the same state again
		// is no change, and a change happened now.
		if cur.SameState(p) {
			return
		}
		if p.Availability != status.Unknown {
			p.Since = now.UTC().Truncate(time.Millisecond)
		}
	} else if cur.Equal(p) {
		return
	}
	ch := &Change{Contact: c.email, Presence: p}
	c.current.Store(ch)
	c.lastAt = now
	h.m.changes.Inc()
	var delivered, dropped int
	for _, r := range c.refs {
		d, x := h.notify(r.sub, int(r.idx), ch)
		delivered += d
		dropped += x
	}
	// Counted once per change, not per subscription: this is the hot path.
	h.deliveries.Add(uint64(delivered))
	if dropped > 0 {
		h.m.drops.Add(float64(dropped))
	}
}

// notify records a change of s.members[i] under a new sequence and queues
// it to the owner's listeners, in sequence order, returning how many
// listeners took it and how many were dropped.
func (h *Hub) notify(s *Subscription, i int, ch *Change) (delivered, dropped int) {
	var hint *Hint
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.members[i].changed = seq
	s.dirty.Store(true) // the sequence moved: persist it with the next Flush
	if s.pushToken != "" && !s.hintOut {
		s.hintOut = true
		hint = &Hint{PushToken: s.pushToken, User: s.user, Subscription: s.id, Key: s.key, Sequence: seq}
	}
	delivered, dropped = s.owner.offer(Event{Kind: PresenceChanged, Subscription: s.id, Sequence: seq, Change: ch})
	s.mu.Unlock()
	if hint != nil && h.hints != nil {
		h.hints.Enqueue(*hint)
	}
	return delivered, dropped
}
