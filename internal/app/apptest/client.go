package apptest

import (
	"net/http"
	"time"

	"github.com/presenced/presenced/internal/status"
	"github.com/presenced/presenced/internal/wire"
)

// Subscription is the JSON of a client subscription. An answer fills the
// fields its endpoint has (API.md §3).
type Subscription struct {
	ID        string          `json:"id"`
	Key       string          `json:"key"`
	TTL       int             `json:"ttl"`
	ExpiresAt time.Time       `json:"expires_at"`
	Sequence  uint64          `json:"sequence"`
	Users     []string        `json:"users"`
	Presence  []wire.Presence `json:"presence"`
}

// Changes is the answer of GET /v1/subscriptions/{id}/changes.
type Changes struct {
	Sequence uint64          `json:"sequence"`
	Full     bool            `json:"full"`
	Presence []wire.Presence `json:"presence"`
}

// Subscribe creates (or replaces) a subscription of token's user through
// the client API, and checks the answer's status.
func (h *Harness) Subscribe(token string, body any, wantStatus int) Subscription {
	h.tb.Helper()
	return Decode[Subscription](h.tb, h.Do("POST", "/v1/subscriptions", token, body), wantStatus)
}

// Settled polls token's subscription id until none of its contacts is
// pending any more, and returns its full state.
func (h *Harness) Settled(token, id string) Subscription {
	h.tb.Helper()
	var s Subscription
	Eventually(h.tb, "subscription "+id+" to settle", func() bool {
		s = Decode[Subscription](h.tb, h.Do("GET", "/v1/subscriptions/"+id, token, nil), http.StatusOK)
		for _, p := range s.Presence {
			if p.Reason == status.Pending.String() {
				return false
			}
		}
		return true
	})
	return s
}

// Publish sets token's user's presence through PUT /v1/me/presence.
func (h *Harness) Publish(token string, body any) wire.Presence {
	h.tb.Helper()
	return Decode[wire.Presence](h.tb, h.Do("PUT", "/v1/me/presence", token, body), http.StatusOK)
}

// At returns a pointer to t, for wire.Presence.Since.
func At(t time.Time) *time.Time { return &t }

// Offline is the presence object of user when Offline since since (nil
// for a user who never published).
func Offline(user string, since *time.Time) wire.Presence {
	return wire.Presence{User: user, Availability: "Offline", Code: 18000, Since: since}
}

// Unknown is the presence object of user when Unknown for reason r.
func Unknown(user string, r status.Reason) wire.Presence {
	return wire.Presence{User: user, Availability: "Unknown", Code: -1, Reason: r.String()}
}
