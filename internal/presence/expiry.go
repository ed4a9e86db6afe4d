package presence

import (
	"context"
	"fmt"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Sweep removes subscriptions whose expiry has passed, telling their
// owner's listeners. Subscriptions of users with an open stream are
// refreshed instead. It also forgets users left with neither
// subscriptions nor listeners (a stream that closed before its owner ever
// subscribed, or after the last subscription went).
func (h *Hub) Sweep(ctx context.Context) {
	now := h.clk.Now().UnixNano()
	var due []*Subscription
	var idle []*user
	h.mu.RLock()
	for _, s := range h.byID {
		if s.owner.hasListeners() {
			if s.expires.Load()-now < int64(h.effectiveTTL(s.ttl))/2 {
				h.touch(s)
			}
			continue
		}
		if s.expires.Load() <= now {
			due = append(due, s)
		}
	}
	for _, u := range h.users {
		if len(u.byKey) == 0 && !u.hasListeners() {
			idle = append(idle, u)
		}
	}
	h.mu.RUnlock()
	expired := 0
	for _, s := range due {
		if h.expire(ctx, s, now) {
			expired++
		}
	}
	h.m.expired.Add(float64(expired))
	if len(idle) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range idle {
		if h.users[u.email] == u && len(u.byKey) == 0 && !u.hasListeners() {
			delete(h.users, u.email)
		}
	}
}

// expire removes s if it is still due at now and reports whether it did.
// It holds the owner's user lock, like Subscribe, Patch and Delete, so that
// the in-memory removal and the store deletion cannot interleave with a
// concurrent replace or patch of the same subscription (which would
// otherwise re-install it in memory after its record was deleted, or
// re-persist a record the hub no longer holds).
func (h *Hub) expire(ctx context.Context, s *Subscription, now int64) bool {
	ul := h.userLock(s.user)
	ul.Lock()
	defer ul.Unlock()
	h.mu.Lock()
	if h.byID[s.id] != s || s.expires.Load() > now || s.owner.hasListeners() {
		h.mu.Unlock()
		return false // refreshed or removed meanwhile
	}
	s.owner.offer(Event{Kind: SubscriptionExpired, Subscription: s.id})
	h.removeLocked(s)
	h.mu.Unlock()
	if err := h.subs.Delete(ctx, s.id); err != nil {
		h.log.Warn("deleting expired subscription", "subscription", s.id, "err", err)
	}
	return true
}

// Flush persists the expiry and sequence of every subscription refreshed
// or changed since the last Flush.
func (h *Hub) Flush(ctx context.Context) error {
	var touches []store.Touch
	h.mu.RLock()
	for _, s := range h.byID {
		if !s.dirty.Swap(false) {
			continue
		}
		s.mu.Lock()
		seq := s.seq
		s.mu.Unlock()
		touches = append(touches, store.Touch{ID: s.id, ExpiresAt: time.Unix(0, s.expires.Load()), Sequence: seq})
	}
	h.mu.RUnlock()
	if len(touches) == 0 {
		return nil
	}
	if err := h.subs.Touch(ctx, touches); err != nil {
		h.mu.RLock()
		for _, t := range touches {
			if s := h.byID[t.ID]; s != nil {
				s.dirty.Store(true)
			}
		}
		h.mu.RUnlock()
		return fmt.Errorf("persist %d refreshes: %w", len(touches), err)
	}
	return nil
}

// Load restores persisted subscriptions at start, dropping those that
// expired while presenced was down, and asks for their contacts to be
// watched. Sequences continue above the persisted ones, and every app's
// next "changes since" answers the full set.
func (h *Hub) Load(ctx context.Context) (int, error) {
	recs, err := h.subs.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("load subscriptions: %w", err)
	}
	now := h.clk.Now()
	var expired []string
	n := 0
	h.mu.Lock()
	for _, rec := range recs {
		if !rec.ExpiresAt.After(now) {
			expired = append(expired, rec.ID)
			continue
		}
		rec.Sequence += restartSequenceGap
		h.installLocked(rec)
		n++
	}
	h.mu.Unlock()
	for _, id := range expired {
		if err := h.subs.Delete(ctx, id); err != nil {
			return n, fmt.Errorf("drop expired subscription: %w", err)
		}
	}
	return n, nil
}

// markAllDirty marks every subscription for the next Flush (used at shutdown so
// sequences are persisted exactly).
func (h *Hub) markAllDirty() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.byID {
		s.dirty.Store(true)
	}
}
