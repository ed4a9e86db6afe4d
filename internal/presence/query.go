package presence

import (
	"context"

	"github.com/presenced/presenced/internal/status"
)

// Fetcher reads the presence of contacts the Hub does not watch.
type Fetcher interface {
	Fetch(ctx context.Context, contact string) (status.Presence, error)
}

// Query returns the presence of each contact, in order: the watched state
// when the contact is watched, Unknown (domain_not_allowed) when the
// allowlist excludes it, otherwise a one-shot fetch (nil fetch: Unknown).
// A failed fetch is Unknown (backend_error) for that contact only.
func (h *Hub) Query(ctx context.Context, contacts []string, fetch Fetcher) []ContactPresence {
	out := make([]ContactPresence, len(contacts))
	var missing []int
	allow := h.allow.Load()
	h.mu.RLock()
	for i, email := range contacts {
		out[i].Contact = email
		switch c := h.contacts[email]; {
		case !allow.Allows(email):
			out[i].Presence = status.UnknownBecause(status.DomainNotAllowed)
		case c != nil && c.wanted:
			out[i].Presence = c.current.Load().Presence
		default:
			missing = append(missing, i)
		}
	}
	h.mu.RUnlock()
	for _, i := range missing {
		if fetch == nil {
			continue
		}
		p, err := fetch.Fetch(ctx, contacts[i])
		if err != nil {
			h.log.Debug("one-shot fetch failed", "err", err)
			p = status.UnknownBecause(status.BackendError)
		}
		out[i].Presence = p
	}
	return out
}
