package api

import (
	"errors"
	"net/http"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/presence"
)

// The compatibility API (API.md §4) behaves like the vendor's presence
// REST API: subscriptions keyed by (user, notify key), presence as legacy
// integer codes. Unknown request fields are ignored here, unlike /v1,
// because existing apps send fields of their own.

type compatContact struct {
	ID           string `json:"id"`
	Availability int    `json:"availability"`
}

type compatAnswer struct {
	Contacts []compatContact `json:"contacts"`
	Sequence *uint64         `json:"sequence,omitempty"`
}

func compatContacts(in []presence.ContactPresence) []compatContact {
	out := make([]compatContact, len(in))
	for i, cp := range in {
		out[i] = compatContact{ID: cp.Contact, Availability: cp.Presence.Availability.Code()}
	}
	return out
}

// compatSubscribe serves POST /presence/subscriptions: subscribe (with
// notify), unsubscribe (notify and no contacts) or one-shot lookup (no
// notify).
func (s *Server) compatSubscribe(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Contacts []string `json:"contacts"`
		Notify   string   `json:"notify"`
	}
	if err := DecodeJSON(r, &req, false); err != nil {
		return err
	}
	if len(req.Notify) > maxKeyLen {
		return Invalid("notify key longer than %d bytes", maxKeyLen)
	}
	users, err := contacts("contacts", req.Contacts, s.cfg.MaxContacts)
	if err != nil {
		return err
	}
	switch {
	case req.Notify == "":
		res := s.d.Hub.Query(r.Context(), users, s.d.Fetcher)
		WriteJSON(w, http.StatusOK, compatAnswer{Contacts: compatContacts(res)})
	case len(users) == 0:
		id, err := s.d.Hub.IDForKey(p.User, req.Notify)
		if err == nil {
			err = s.d.Hub.Delete(r.Context(), p.User, id)
		}
		if err != nil && !errors.Is(err, presence.ErrNotFound) {
			return err
		}
		zero := uint64(0)
		WriteJSON(w, http.StatusOK, compatAnswer{Contacts: []compatContact{}, Sequence: &zero})
	default:
		v, _, err := s.d.Hub.Subscribe(r.Context(), presence.SubscribeRequest{
			User: p.User, Key: req.Notify, Contacts: users,
			PushToken: truncate(r.Header.Get("X-Good-GNP-Token"), 4096),
		})
		if err != nil {
			return err
		}
		seq := v.Sequence
		WriteJSON(w, http.StatusOK, compatAnswer{Contacts: compatContacts(v.Presence), Sequence: &seq})
	}
	return nil
}

// compatFetch serves GET /presence/subscriptions/KEY[?sequence=N].
func (s *Server) compatFetch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	since, given, err := parseSince(r, "sequence")
	if err != nil {
		return err
	}
	id, err := s.d.Hub.IDForKey(p.User, r.PathValue("key"))
	if err != nil {
		return err
	}
	var list []presence.ContactPresence
	var seq uint64
	if given {
		ch, err := s.d.Hub.ChangesSince(p.User, id, since)
		if err != nil {
			return err
		}
		list, seq = ch.Presence, ch.Sequence
	} else {
		v, err := s.d.Hub.Get(p.User, id)
		if err != nil {
			return err
		}
		list, seq = v.Presence, v.Sequence
	}
	WriteJSON(w, http.StatusOK, compatAnswer{Contacts: compatContacts(list), Sequence: &seq})
	return nil
}
