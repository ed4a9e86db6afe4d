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

// ErrInvalid is wrapped by every validation error of a change, each a
// *FieldError.
var ErrInvalid = errors.New("invalid settings")

// FieldError says which field of a change is invalid: subscription_ttl,
// allowlist.domains, or domains (of AddDomains and RemoveDomains). It
// wraps ErrInvalid.
type FieldError struct {
	Field  string
	Detail string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%v: %s: %s", ErrInvalid, e.Field, e.Detail) }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field string, err error) error { return &FieldError{Field: field, Detail: err.Error()} }

// Applier is what settings are applied to (the presence hub). The
// Manager calls it with its own lock held, so calls never overlap, and
// always SetTTL before SetAllowlist.
type Applier interface {
	// SetTTL sets the default subscription TTL. An error means the TTL
	// was refused and nothing changed.
	SetTTL(time.Duration) error
	// SetAllowlist replaces the allowlist at once.
	SetAllowlist(allowlist.List)
}

// Manager serialises changes of settings: the stored record, the applied
// state and what Get returns change together. It is safe for concurrent
// use. Create it with Load.
type Manager struct {
	st    store.SettingsStore
	apply Applier

	// mu serialises Update (store write and apply included) and guards cur.
	mu  sync.Mutex
	cur store.Settings // the stored and applied settings; guarded by mu
}

// Load reads the stored settings and applies them. On first start (the
// store holds nothing) it validates and normalises seed, applies it and
// only then stores it, so a seed the hub refuses is never persisted: it
// would otherwise fail every later start, whatever the configuration
// said. An invalid seed is an error wrapping ErrInvalid.
func Load(ctx context.Context, st store.SettingsStore, apply Applier, seed store.Settings) (*Manager, error) {
	cur, err := st.Get(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return loadSeed(ctx, st, apply, seed)
	case err != nil:
		return nil, fmt.Errorf("load settings: %w", err)
	}
	m := &Manager{st: st, apply: apply, cur: clone(cur)}
	if err := m.applyLocked(m.cur); err != nil {
		return nil, fmt.Errorf("apply stored settings: %w", err)
	}
	return m, nil
}

func loadSeed(ctx context.Context, st store.SettingsStore, apply Applier, seed store.Settings) (*Manager, error) {
	cur, err := normalize(seed)
	if err != nil {
		return nil, fmt.Errorf("seed settings: %w", err)
	}
	m := &Manager{st: st, apply: apply, cur: cur}
	if err := m.applyLocked(cur); err != nil {
		return nil, fmt.Errorf("apply seed settings: %w", err)
	}
	if err := st.Put(ctx, cur); err != nil {
		return nil, fmt.Errorf("store seed settings: %w", err)
	}
	return m, nil
}

// Get returns a copy of the current settings.
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
	// AddDomains are added to the list (after any replacement); raw
	// input, as for AllowlistDomains.
	AddDomains []string
	// RemoveDomains are removed from the list (after additions); raw
	// input, matched case-insensitively. Absent domains are ignored.
	RemoveDomains []string
}

// Preview returns the settings that c would produce, without persisting
// or applying them. An invalid c is an error wrapping ErrInvalid, with the
// zero Settings.
func (m *Manager) Preview(c Change) (store.Settings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nextLocked(c)
}

// Update validates c, persists the result and applies it at once. It
// returns the settings before and after. An invalid c is an error wrapping
// ErrInvalid. On any error nothing changes: the stored, current and
// applied settings stay as they were (when the applier refuses, the
// previous record is stored again).
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
	if err := m.applyLocked(next); err != nil {
		err = fmt.Errorf("apply settings: %w", err)
		// Restore the record so that the store keeps agreeing with what
		// runs; a cancelled ctx must not prevent that.
		if rerr := m.st.Put(context.WithoutCancel(ctx), m.cur); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore stored settings: %w", rerr))
		}
		return store.Settings{}, store.Settings{}, err
	}
	before, m.cur = m.cur, next
	return clone(before), clone(next), nil
}

// normalize validates s as a complete record and returns it with its
// domains normalised.
func normalize(s store.Settings) (store.Settings, error) {
	if err := checkTTL(s.SubscriptionTTL); err != nil {
		return store.Settings{}, err
	}
	ds, err := allowlist.Normalize(s.AllowlistDomains)
	if err != nil {
		return store.Settings{}, invalid("allowlist.domains", err)
	}
	if ds == nil {
		ds = []string{}
	}
	s.AllowlistDomains = ds
	return s, nil
}

func checkTTL(d time.Duration) error {
	if d < presence.MinTTL || d > presence.MaxTTL {
		return &FieldError{Field: "subscription_ttl", Detail: fmt.Sprintf("must be %d..%d seconds", int(presence.MinTTL.Seconds()), int(presence.MaxTTL.Seconds()))}
	}
	return nil
}

func (m *Manager) nextLocked(c Change) (store.Settings, error) {
	next := clone(m.cur)
	if c.SubscriptionTTL != nil {
		if err := checkTTL(*c.SubscriptionTTL); err != nil {
			return store.Settings{}, err
		}
		next.SubscriptionTTL = *c.SubscriptionTTL
	}
	if c.AllowlistEnabled != nil {
		next.AllowlistEnabled = *c.AllowlistEnabled
	}
	if c.AllowlistDomains != nil {
		ds, err := allowlist.Normalize(*c.AllowlistDomains)
		if err != nil {
			return store.Settings{}, invalid("allowlist.domains", err)
		}
		next.AllowlistDomains = ds
	}
	if len(c.AddDomains) > 0 {
		ds, err := allowlist.Normalize(append(append([]string(nil), next.AllowlistDomains...), c.AddDomains...))
		if err != nil {
			return store.Settings{}, invalid("domains", err)
		}
		next.AllowlistDomains = ds
	}
	if len(c.RemoveDomains) > 0 {
		drop, err := allowlist.Normalize(c.RemoveDomains)
		if err != nil {
			return store.Settings{}, invalid("domains", err)
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
