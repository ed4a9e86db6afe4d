package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/state"
	"github.com/presenced/presenced/internal/status"
)

// presenceStore is the state.PresenceStore of a State.
type presenceStore struct {
	s *State

	mu      sync.Mutex
	entries map[string]presenceEntry // guarded by mu; may hold expired entries
	sweep   sweeper                  // guarded by mu
}

var _ state.PresenceStore = (*presenceStore)(nil)

type presenceEntry struct {
	p       status.Presence
	expires time.Time
}

// live reports whether the entry has not expired at now.
func (e presenceEntry) live(now time.Time) bool { return now.Before(e.expires) }

func (ps *presenceStore) Set(ctx context.Context, user string, p status.Presence, ttl time.Duration) error {
	if err := ps.s.check(ctx, "set presence"); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("set presence: ttl %v is not positive", ttl)
	}
	// Strip the monotonic reading and location so that what is read back
	// is what a serialising implementation would return.
	p.Since = p.Since.Round(0).UTC()
	now := ps.s.clk.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.sweep.due(now) {
		ps.sweepLocked(now)
	}
	ps.entries[user] = presenceEntry{p: p, expires: now.Add(ttl)}
	return nil
}

func (ps *presenceStore) Get(ctx context.Context, user string) (status.Presence, error) {
	if err := ps.s.check(ctx, "get presence"); err != nil {
		return status.Presence{}, err
	}
	now := ps.s.clk.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	e, ok := ps.entries[user]
	if !ok || !e.live(now) {
		return status.Presence{}, state.ErrNotFound
	}
	return e.p, nil
}

func (ps *presenceStore) GetMany(ctx context.Context, users []string) (map[string]status.Presence, error) {
	if err := ps.s.check(ctx, "get presences"); err != nil {
		return nil, err
	}
	now := ps.s.clk.Now()
	out := make(map[string]status.Presence, len(users))
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, u := range users {
		if e, ok := ps.entries[u]; ok && e.live(now) {
			out[u] = e.p
		}
	}
	return out, nil
}

// sweepLocked deletes the entries expired at now.
func (ps *presenceStore) sweepLocked(now time.Time) {
	for u, e := range ps.entries {
		if !e.live(now) {
			delete(ps.entries, u)
		}
	}
}
