package presence

import (
	"github.com/presenced/presenced/internal/allowlist"
	"github.com/presenced/presenced/internal/status"
)

// SetAllowlist applies a new allowlist at once: contacts of domains no
// longer allowed lose their watch and turn Unknown (domain_not_allowed) in
// every subscription, as a change; contacts of newly allowed domains are
// watched.
func (h *Hub) SetAllowlist(l allowlist.List) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.allow.Store(&l)
	for _, c := range h.contacts {
		allowed := l.Allows(c.email)
		switch {
		case !allowed && c.current.Load().Presence.Reason != status.DomainNotAllowed:
			h.unwantLocked(c)
			h.forceLocked(c, status.UnknownBecause(status.DomainNotAllowed))
			if len(c.refs) == 0 {
				h.releaseLocked(c)
			}
		case allowed && !c.wanted && len(c.refs) > 0:
			h.forceLocked(c, status.UnknownBecause(status.Pending))
			h.wantLocked(c)
		}
	}
}

// Allows reports whether contact may be watched under the current
// allowlist.
func (h *Hub) Allows(contact string) bool { return h.allow.Load().Allows(contact) }
