// Package settings owns the values administrators change at run time (the
// subscription TTL and the allowlist): it persists them in the store and
// applies them to the running presence hub at once.
package settings

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/store"
)

// ErrInvalid is wrapped by every validation error of a change.
var ErrInvalid = errors.New("invalid settings")

// Applier is what settings are applied to (the presence hub).
type Applier interface {
	SetTTL(time.Duration) error
	SetAllowlist(allowlist.List)
}

// Manager serialises changes of settings. Create it with Load.
type Manager struct {
	st    store.SettingsStore
	apply Applier

	mu  sync.Mutex
	cur store.Settings // guarded by mu
}

// Load reads the stored settings, or stores seed on first start, and
// applies them.
func Load(ctx context.Context, st store.SettingsStore, apply Applier, seed store.Settings) (*Manager, error) {
	cur, err := st.Get(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		cur = seed
		if err := st.Put(ctx, cur); err != nil {
			return nil, fmt.Errorf("seed settings: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("load settings: %w", err)
	}
	m := &Manager{st: st, apply: apply, cur: cur}
	if err := m.applyLocked(cur); err != nil {
		return nil, fmt.Errorf("stored settings: %w", err)
	}
	return m, nil
}

// Get returns the current settings.
func (m *Manager) Get() store.Settings {
	m.mu.Lock()
	defer m.mu.Unlock()
	return clone(m.cur)
}

// Change is a partial update; nil fields are left as they are.
type Change struct {
	SubscriptionTTL  *time.Duration
	AllowlistEnabled *bool
	// AllowlistDomains replaces the list; each element may hold several
	// domains separated by commas, semicolons, spaces or new lines.
	AllowlistDomains *[]string
	AddDomains       []string // raw input, as for AllowlistDomains
	RemoveDomains    []string
}

// Preview returns the settings that c would produce, without applying
// them.
func (m *Manager) Preview(c Change) (store.Settings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nextLocked(c)
}

// Update validates c, persists the result and applies it at once. It
// returns the settings before and after.
func (m *Manager) Update(ctx context.Context, c Change) (before, after store.Settings, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := m.nextLocked(c)
	if err != nil {
		return store.Settings{}, store.Settings{}, err
	}
	if err := m.st.Put(ctx, next); err != nil {
		return store.Settings{}, store.Settings{}, fmt.Errorf("persist settings: %w", err)
	}
	before = clone(m.cur)
	if err := m.applyLocked(next); err != nil {
		return store.Settings{}, store.Settings{}, err
	}
	m.cur = next
	return before, clone(next), nil
}

func (m *Manager) nextLocked(c Change) (store.Settings, error) {
	next := clone(m.cur)
	if c.SubscriptionTTL != nil {
		d := *c.SubscriptionTTL
		if d < presence.MinTTL || d > presence.MaxTTL {
			return next, fmt.Errorf("%w: subscription_ttl must be %d..%d seconds", ErrInvalid, int(presence.MinTTL.Seconds()), int(presence.MaxTTL.Seconds()))
		}
		next.SubscriptionTTL = d
	}
	if c.AllowlistEnabled != nil {
		next.AllowlistEnabled = *c.AllowlistEnabled
	}
	if c.AllowlistDomains != nil {
		ds, err := allowlist.Normalize(*c.AllowlistDomains)
		if err != nil {
			return next, fmt.Errorf("%w: allowlist.domains: %v", ErrInvalid, err)
		}
		next.AllowlistDomains = ds
	}
	if len(c.AddDomains) > 0 {
		ds, err := allowlist.Normalize(append(append([]string(nil), next.AllowlistDomains...), c.AddDomains...))
		if err != nil {
			return next, fmt.Errorf("%w: domains: %v", ErrInvalid, err)
		}
		next.AllowlistDomains = ds
	}
	if len(c.RemoveDomains) > 0 {
		drop, err := allowlist.Normalize(c.RemoveDomains)
		if err != nil {
			return next, fmt.Errorf("%w: domains: %v", ErrInvalid, err)
		}
		kept := next.AllowlistDomains[:0:0]
		for _, d := range next.AllowlistDomains {
			if !slices.Contains(drop, d) {
				kept = append(kept, d)
			}
		}
		next.AllowlistDomains = kept
	}
	if next.AllowlistDomains == nil {
		next.AllowlistDomains = []string{}
	}
	return next, nil
}

func (m *Manager) applyLocked(s store.Settings) error {
	if err := m.apply.SetTTL(s.SubscriptionTTL); err != nil {
		return err
	}
	m.apply.SetAllowlist(allowlist.New(s.AllowlistEnabled, s.AllowlistDomains))
	return nil
}

func clone(s store.Settings) store.Settings {
	s.AllowlistDomains = append([]string{}, s.AllowlistDomains...)
	return s
}
