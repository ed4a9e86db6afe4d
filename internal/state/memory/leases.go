package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/state"
)

// leases is the state.Leases of a State.
type leases struct {
	s *State

	mu      sync.Mutex
	entries map[string]lease // guarded by mu; may hold expired leases
	sweep   sweeper          // guarded by mu
}

var _ state.Leases = (*leases)(nil)

type lease struct {
	owner   string
	expires time.Time
}

// heldAt reports whether the lease is unexpired at now.
func (l lease) heldAt(now time.Time) bool { return now.Before(l.expires) }

func (ls *leases) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := ls.s.check(ctx, "acquire lease"); err != nil {
		return false, err
	}
	if owner == "" {
		return false, errors.New("acquire lease: empty owner")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("acquire lease: ttl %v is not positive", ttl)
	}
	now := ls.s.clk.Now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.sweep.due(now) {
		ls.sweepLocked(now)
	}
	if l, ok := ls.entries[name]; ok && l.heldAt(now) && l.owner != owner {
		return false, nil
	}
	ls.entries[name] = lease{owner: owner, expires: now.Add(ttl)}
	return true, nil
}

func (ls *leases) Release(ctx context.Context, name, owner string) error {
	if err := ls.s.check(ctx, "release lease"); err != nil {
		return err
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	// An expired lease of owner is deleted too: nobody holds it either way.
	if l, ok := ls.entries[name]; ok && l.owner == owner {
		delete(ls.entries, name)
	}
	return nil
}

func (ls *leases) Owner(ctx context.Context, name string) (string, error) {
	if err := ls.s.check(ctx, "lease owner"); err != nil {
		return "", err
	}
	now := ls.s.clk.Now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.entries[name]
	if !ok || !l.heldAt(now) {
		return "", state.ErrNotFound
	}
	return l.owner, nil
}

// sweepLocked deletes the leases expired at now.
func (ls *leases) sweepLocked(now time.Time) {
	for name, l := range ls.entries {
		if !l.heldAt(now) {
			delete(ls.entries, name)
		}
	}
}
