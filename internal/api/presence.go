package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/status"
	"github.com/presenced/presenced/internal/stream"
	"github.com/presenced/presenced/internal/wire"
)

// Limits on published presence text.
const (
	maxNoteLen     = 1024
	maxActivityLen = 64
	maxKeyLen      = 256
)

func presenceList(in []presence.ContactPresence) []wire.Presence {
	out := make([]wire.Presence, len(in))
	for i, cp := range in {
		out[i] = wire.FromStatus(cp.Contact, cp.Presence)
	}
	return out
}

func (s *Server) query(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Users []string `json:"users"`
	}
	if err := DecodeJSON(r, &req, true); err != nil {
		return err
	}
	users, err := contacts("users", req.Users, s.cfg.MaxContacts)
	if err != nil {
		return err
	}
	res := s.d.Hub.Query(r.Context(), users, s.d.Fetcher)
	// Encoded by hand (the same bytes encoding/json would write): a
	// 1000-contact answer is the hot path of lookups.
	b := make([]byte, 0, 32+len(res)*96)
	b = append(b, `{"presence":[`...)
	for i, cp := range res {
		if i > 0 {
			b = append(b, ',')
		}
		b = wire.AppendPresence(b, cp.Contact, cp.Presence)
	}
	b = append(b, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
	return nil
}

// subscriptionJSON is a subscription as apps see it.
type subscriptionJSON struct {
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	TTL       int       `json:"ttl"`
	ExpiresAt time.Time `json:"expires_at"`
	Sequence  uint64    `json:"sequence"`
	// Users and Presence are left out when nil (a listing carries no
	// presence, a new subscription no users) but shown when empty, so an
	// empty subscription still answers "presence": [].
	Users    []string        `json:"users,omitzero"`
	Presence []wire.Presence `json:"presence,omitzero"`
}

func subscriptionOf(v presence.View, withUsers bool) subscriptionJSON {
	out := subscriptionJSON{
		ID: v.ID, Key: v.Key, TTL: int(v.TTL / time.Second),
		ExpiresAt: v.ExpiresAt.UTC(), Sequence: v.Sequence,
	}
	if withUsers {
		out.Users = v.Contacts
	}
	if v.Presence != nil {
		out.Presence = presenceList(v.Presence)
	}
	return out
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Users     []string `json:"users"`
		Key       string   `json:"key"`
		TTL       *int     `json:"ttl"`
		PushToken string   `json:"push_token"`
	}
	if err := DecodeJSON(r, &req, true); err != nil {
		return err
	}
	if req.Users == nil {
		return Invalid("users is required")
	}
	if len(req.Key) > maxKeyLen || len(req.PushToken) > 4096 {
		return Invalid("key (max %d bytes) or push_token (max 4096 bytes) too long", maxKeyLen)
	}
	users, err := contacts("users", req.Users, s.cfg.MaxContacts)
	if err != nil {
		return err
	}
	sr := presence.SubscribeRequest{User: p.User, Key: req.Key, Contacts: users, PushToken: req.PushToken}
	if req.TTL != nil {
		// Bound the seconds before converting them: a huge value would
		// overflow time.Duration and could wrap into the allowed range.
		if *req.TTL < int(presence.MinTTL/time.Second) || *req.TTL > int(presence.MaxTTL/time.Second) {
			return Invalid("ttl must be between %d and %d seconds", int(presence.MinTTL/time.Second), int(presence.MaxTTL/time.Second))
		}
		sr.TTL = time.Duration(*req.TTL) * time.Second
	}
	v, created, err := s.d.Hub.Subscribe(r.Context(), sr)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		w.Header().Set("Location", "/v1/subscriptions/"+v.ID)
	}
	WriteJSON(w, code, subscriptionOf(v, false))
	return nil
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	views := s.d.Hub.List(p.User)
	out := make([]subscriptionJSON, len(views))
	for i, v := range views {
		out[i] = subscriptionOf(v, true)
		if out[i].Users == nil {
			out[i].Users = []string{}
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"subscriptions": out})
	return nil
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := s.d.Hub.Get(p.User, r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, subscriptionOf(v, true))
	return nil
}

func parseSince(r *http.Request, name string) (uint64, bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, false, Invalid("%s must be a non-negative integer", name)
	}
	return n, true, nil
}

func (s *Server) changes(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	since, _, err := parseSince(r, "since")
	if err != nil {
		return err
	}
	ch, err := s.d.Hub.ChangesSince(p.User, r.PathValue("id"), since)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"sequence": ch.Sequence, "full": ch.Full, "presence": presenceList(ch.Presence),
	})
	return nil
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Add    []string `json:"add"`
		Remove []string `json:"remove"`
	}
	if err := DecodeJSON(r, &req, true); err != nil {
		return err
	}
	add, err := contacts("add", req.Add, s.cfg.MaxContacts)
	if err != nil {
		return err
	}
	remove, err := contacts("remove", req.Remove, s.cfg.MaxContacts)
	if err != nil {
		return err
	}
	v, err := s.d.Hub.Patch(r.Context(), p.User, r.PathValue("id"), add, remove)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, subscriptionOf(v, true))
	return nil
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	exp, err := s.d.Hub.Refresh(p.User, r.PathValue("id"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"expires_at": exp.UTC()})
	return nil
}

func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.d.Hub.Delete(r.Context(), p.User, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if s.d.Stream == nil {
		return NewProblem(http.StatusNotImplemented, CodeNotImplemented, "streams are not enabled")
	}
	err := s.d.Stream.Serve(w, r, p.User)
	var handshake *stream.HandshakeError
	switch {
	case errors.As(err, &handshake):
		code := CodeInvalidRequest
		if handshake.Status == http.StatusForbidden {
			code = CodeForbidden
		}
		return NewProblem(handshake.Status, code, "websocket handshake failed: %v", handshake.Err)
	case errors.Is(err, stream.ErrNotStream):
		return Invalid("GET /v1/stream needs a WebSocket upgrade or Accept: text/event-stream")
	case errors.Is(err, stream.ErrClosed):
		return NewProblem(http.StatusServiceUnavailable, CodeUnavailable, "shutting down; reconnect to another instance")
	}
	return nil // the stream has already answered
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	WriteJSON(w, http.StatusOK, map[string]any{
		"user":          p.User,
		"subscriptions": len(s.d.Hub.List(p.User)),
		"publish":       s.d.Publisher != nil,
	})
	return nil
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req struct {
		Availability json.RawMessage `json:"availability"`
		Note         string          `json:"note"`
		Activity     string          `json:"activity"`
	}
	if err := DecodeJSON(r, &req, true); err != nil {
		return err
	}
	a, err := parseAvailability(req.Availability)
	if err != nil {
		return err
	}
	if len(req.Note) > maxNoteLen || len(req.Activity) > maxActivityLen {
		return Invalid("note (max %d bytes) or activity (max %d bytes) too long", maxNoteLen, maxActivityLen)
	}
	if s.d.Publisher == nil {
		return NewProblem(http.StatusNotImplemented, CodeNotImplemented, "this backend does not accept published presence")
	}
	pr := status.Presence{Availability: a, Note: req.Note, Activity: req.Activity,
		Since: s.d.Clock.Now().UTC().Truncate(time.Millisecond)}
	if err := s.d.Publisher.Publish(r.Context(), p.User, pr); err != nil {
		if errors.Is(err, backend.ErrUnsupported) {
			return err
		}
		s.d.Logger.Warn("publish failed", "err", err)
		return NewProblem(http.StatusBadGateway, CodeFailed, "the presence backend refused the publication")
	}
	WriteJSON(w, http.StatusOK, wire.FromStatus(p.User, pr))
	return nil
}

// parseAvailability accepts an availability name or a legacy integer
// code (bucketed as in API.md §3). Unknown cannot be published.
func parseAvailability(raw json.RawMessage) (status.Availability, error) {
	if len(raw) == 0 {
		return 0, Invalid("availability is required")
	}
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		a, ok := status.ParseAvailability(name)
		if !ok || a == status.Unknown {
			return 0, Invalid("availability %q is not one of Available, Busy, DoNotDisturb, BeRightBack, Away, Offline", truncate(name, 40))
		}
		return a, nil
	}
	var code int
	if err := json.Unmarshal(raw, &code); err != nil {
		return 0, Invalid("availability must be a name or an integer code")
	}
	a, _ := status.FromCode(code)
	if a == status.Unknown {
		return 0, Invalid("availability code %d is negative (Unknown cannot be published)", code)
	}
	return a, nil
}
