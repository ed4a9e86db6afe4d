package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/status"
	"github.com/presenced/presenced/internal/store"
)

// Subscription is one client subscription: a list of contacts an app
// watches, with a strictly increasing sequence.
type Subscription struct {
	id, user, key string // immutable
	owner         *user  // immutable

	// Guarded by Hub.mu.
	members   []member
	ttl       time.Duration // 0 = the hub's default TTL
	pushToken string

	mu      sync.Mutex // guards seq, base, hintOut and members[i].changed
	seq     uint64     // last sequence handed out
	base    uint64     // "changes since N" with N < base answer the full set
	hintOut bool       // a push hint is outstanding until the app fetches

	expires atomic.Int64 // unix nanoseconds
	dirty   atomic.Bool  // expiry/sequence changed since last persisted
}

type member struct {
	c       *contact
	refIdx  int32  // index into c.refs; guarded by Hub.mu
	changed uint64 // sequence of the member's last change; guarded by Subscription.mu
}

// ContactPresence is one contact's presence in a view.
type ContactPresence struct {
	Contact  string
	Presence status.Presence
}

// View is a snapshot of a subscription.
type View struct {
	ID        string
	Key       string
	TTL       time.Duration
	ExpiresAt time.Time
	Sequence  uint64
	PushToken string
	Contacts  []string
	// Presence is set by calls that return the full state.
	Presence []ContactPresence
}

// Changes is the answer to "changes since N".
type Changes struct {
	Sequence uint64
	Full     bool
	Presence []ContactPresence
}

// SubscribeRequest creates or replaces a subscription.
type SubscribeRequest struct {
	User      string
	Key       string        // "" = a new subscription whose key is its id
	Contacts  []string      // normalised emails; duplicates are ignored
	TTL       time.Duration // 0 = default; else MinTTL..default TTL
	PushToken string
}

func newID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Subscribe creates the subscription, or replaces the contact list of the
// user's subscription with the same key. It reports whether it created one.
// The subscription is persisted before it takes effect.
func (h *Hub) Subscribe(ctx context.Context, req SubscribeRequest) (View, bool, error) {
	contacts := dedupe(req.Contacts)
	if len(contacts) > h.cfg.MaxContacts {
		return View{}, false, fmt.Errorf("%w: %d > %d", ErrTooManyContacts, len(contacts), h.cfg.MaxContacts)
	}
	if req.TTL != 0 && (req.TTL < MinTTL || req.TTL > MaxTTL) {
		return View{}, false, fmt.Errorf("%w: %v", ErrInvalidTTL, req.TTL)
	}
	ul := h.userLock(req.User)
	ul.Lock()
	defer ul.Unlock()

	h.mu.RLock()
	var existing *Subscription
	nsubs := 0
	if u := h.users[req.User]; u != nil {
		nsubs = len(u.byKey)
		if req.Key != "" {
			existing = u.byKey[req.Key]
		}
	}
	rec := store.Subscription{User: req.User, Key: req.Key, TTL: req.TTL, PushToken: req.PushToken, Contacts: contacts}
	if existing != nil {
		rec.ID = existing.id
		existing.mu.Lock()
		rec.Sequence = existing.seq + 1
		existing.mu.Unlock()
	}
	h.mu.RUnlock()
	if existing == nil {
		if nsubs >= h.cfg.MaxSubscriptionsPerUser {
			return View{}, false, fmt.Errorf("%w: %d", ErrTooManySubscriptions, nsubs)
		}
		rec.ID = newID()
		if rec.Key == "" {
			rec.Key = rec.ID
		}
		rec.Sequence = 1
	}
	rec.ExpiresAt = h.clk.Now().Add(h.effectiveTTL(req.TTL))
	if err := h.subs.Put(ctx, rec); err != nil {
		return View{}, false, fmt.Errorf("persist subscription: %w", err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.installLocked(rec)
	return h.viewLocked(s, true), existing == nil, nil
}

// installLocked creates or replaces the subscription described by rec.
// Hub.mu must be held for writing.
func (h *Hub) installLocked(rec store.Subscription) *Subscription {
	u := h.userLocked(rec.User)
	s := h.byID[rec.ID]
	if s == nil {
		s = &Subscription{id: rec.ID, user: rec.User, key: rec.Key, owner: u}
		h.byID[s.id] = s
		u.byKey[s.key] = s
	}
	s.ttl = rec.TTL
	s.pushToken = rec.PushToken
	s.mu.Lock()
	if rec.Sequence > s.seq {
		s.seq = rec.Sequence
	} else {
		s.seq++
	}
	s.base = s.seq
	s.hintOut = false // the app has the full state now, as after a fetch
	seq := s.seq
	s.mu.Unlock()
	h.setMembersLocked(s, rec.Contacts, seq)
	s.expires.Store(rec.ExpiresAt.UnixNano())
	return s
}

// setMembersLocked replaces s's contacts; every member is marked changed
// at seq.
func (h *Hub) setMembersLocked(s *Subscription, contacts []string, seq uint64) {
	old := s.members
	touched := make([]*contact, 0, len(old)+len(contacts))
	for i := range old {
		unrefLocked(s, i)
		touched = append(touched, old[i].c)
	}
	s.members = make([]member, len(contacts))
	for i, email := range contacts {
		c := h.contactLocked(email)
		s.members[i] = member{c: c, changed: seq}
		refLocked(s, i)
		touched = append(touched, c)
	}
	for _, c := range touched {
		h.settleLocked(c)
	}
}

// viewLocked snapshots s. Hub.mu must be held.
func (h *Hub) viewLocked(s *Subscription, full bool) View {
	v := View{
		ID:        s.id,
		Key:       s.key,
		TTL:       h.effectiveTTL(s.ttl),
		ExpiresAt: time.Unix(0, s.expires.Load()),
		PushToken: s.pushToken,
		Contacts:  make([]string, len(s.members)),
	}
	// Members are read field by field: copying a member would read
	// changed, which fan-out writes under s.mu with Hub.mu only read-held.
	for i := range s.members {
		v.Contacts[i] = s.members[i].c.email
	}
	s.mu.Lock()
	v.Sequence = s.seq
	s.mu.Unlock()
	if full {
		v.Presence = make([]ContactPresence, len(s.members))
		for i := range s.members {
			c := s.members[i].c
			v.Presence[i] = ContactPresence{Contact: c.email, Presence: c.current.Load().Presence}
		}
	}
	return v
}

func (h *Hub) effectiveTTL(ttl time.Duration) time.Duration {
	def := h.TTL()
	if ttl == 0 || ttl > def {
		return def
	}
	return ttl
}

// touch refreshes s's expiry. Hub.mu must be held (read or write).
func (h *Hub) touch(s *Subscription) {
	s.expires.Store(h.clk.Now().Add(h.effectiveTTL(s.ttl)).UnixNano())
	s.dirty.Store(true)
}

// lookupLocked returns user's subscription id. Hub.mu must be held.
func (h *Hub) lookupLocked(user, id string) (*Subscription, error) {
	s := h.byID[id]
	if s == nil || s.user != user {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return s, nil
}

// Get returns the full state of user's subscription id and refreshes it.
func (h *Hub) Get(user, id string) (View, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, err := h.lookupLocked(user, id)
	if err != nil {
		return View{}, err
	}
	h.fetchedLocked(s)
	return h.viewLocked(s, true), nil
}

// fetchedLocked records that the app fetched s: it is refreshed and may
// get a new push hint.
func (h *Hub) fetchedLocked(s *Subscription) {
	h.touch(s)
	s.mu.Lock()
	s.hintOut = false
	s.mu.Unlock()
}

// ChangesSince returns the contacts of user's subscription id that changed
// after sequence since, or the full set when since is older than the
// change log (before the last change of membership) or newer than the
// subscription's sequence. It refreshes the subscription.
func (h *Hub) ChangesSince(user, id string, since uint64) (Changes, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, err := h.lookupLocked(user, id)
	if err != nil {
		return Changes{}, err
	}
	h.fetchedLocked(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Changes{Sequence: s.seq, Full: since < s.base || since > s.seq}
	out.Presence = []ContactPresence{}
	for _, m := range s.members {
		if out.Full || m.changed > since {
			out.Presence = append(out.Presence, ContactPresence{Contact: m.c.email, Presence: m.c.current.Load().Presence})
		}
	}
	return out, nil
}

// Patch adds and removes contacts of user's subscription id and returns
// its full state. Removing contacts resets the change log (apps asking for
// changes since an older sequence get the full set).
func (h *Hub) Patch(ctx context.Context, user, id string, add, remove []string) (View, error) {
	ul := h.userLock(user)
	ul.Lock()
	defer ul.Unlock()
	h.mu.RLock()
	s, err := h.lookupLocked(user, id)
	if err != nil {
		h.mu.RUnlock()
		return View{}, err
	}
	rec := h.recordLocked(s)
	h.mu.RUnlock()

	drop := make(map[string]bool, len(remove))
	for _, r := range remove {
		drop[r] = true
	}
	next := rec.Contacts[:0:0]
	for _, c := range rec.Contacts {
		if !drop[c] {
			next = append(next, c)
		}
	}
	removed := len(next) < len(rec.Contacts)
	next = dedupe(append(next, add...))
	if len(next) > h.cfg.MaxContacts {
		return View{}, fmt.Errorf("%w: %d > %d", ErrTooManyContacts, len(next), h.cfg.MaxContacts)
	}
	rec.Contacts = next
	rec.Sequence++
	if err := h.subs.Put(ctx, rec); err != nil {
		return View{}, fmt.Errorf("persist subscription: %w", err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if s, err = h.lookupLocked(user, id); err != nil {
		return View{}, err // expired meanwhile
	}
	h.patchLocked(s, next, removed)
	h.fetchedLocked(s)
	return h.viewLocked(s, true), nil
}

// patchLocked sets s's contacts to next, keeping the change log of
// retained members unless reset.
func (h *Hub) patchLocked(s *Subscription, next []string, reset bool) {
	prev := make(map[string]uint64, len(s.members))
	for _, m := range s.members {
		prev[m.c.email] = m.changed
	}
	s.mu.Lock()
	s.seq++
	seq := s.seq
	if reset {
		s.base = seq
	}
	s.mu.Unlock()
	h.setMembersLocked(s, next, seq)
	if reset {
		return
	}
	for i := range s.members {
		if ch, ok := prev[s.members[i].c.email]; ok {
			s.members[i].changed = ch
		}
	}
}

// recordLocked returns the durable form of s. Hub.mu must be held.
func (h *Hub) recordLocked(s *Subscription) store.Subscription {
	v := h.viewLocked(s, false)
	return store.Subscription{
		ID: s.id, User: s.user, Key: s.key, TTL: s.ttl,
		ExpiresAt: v.ExpiresAt, Sequence: v.Sequence,
		PushToken: s.pushToken, Contacts: v.Contacts,
	}
}

// Refresh extends user's subscription id and returns its new expiry.
func (h *Hub) Refresh(user, id string) (time.Time, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, err := h.lookupLocked(user, id)
	if err != nil {
		return time.Time{}, err
	}
	h.touch(s)
	return time.Unix(0, s.expires.Load()), nil
}

// Delete removes user's subscription id.
func (h *Hub) Delete(ctx context.Context, user, id string) error {
	ul := h.userLock(user)
	ul.Lock()
	defer ul.Unlock()
	h.mu.RLock()
	_, err := h.lookupLocked(user, id)
	h.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := h.subs.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete subscription: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.byID[id]; s != nil {
		h.removeLocked(s)
	}
	return nil
}

// IDForKey returns the id of user's subscription with key, or
// ErrNotFound.
func (h *Hub) IDForKey(user, key string) (string, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if u := h.users[user]; u != nil && u.byKey[key] != nil {
		return u.byKey[key].id, nil
	}
	return "", fmt.Errorf("%w: key %s", ErrNotFound, key)
}

// removeLocked drops s from memory.
func (h *Hub) removeLocked(s *Subscription) {
	for i := range s.members {
		unrefLocked(s, i)
	}
	touched := s.members
	s.members = nil
	for _, m := range touched {
		h.settleLocked(m.c)
	}
	delete(h.byID, s.id)
	delete(s.owner.byKey, s.key)
	if len(s.owner.byKey) == 0 && !s.owner.hasListeners() {
		delete(h.users, s.user)
	}
}

// List returns user's subscriptions (without presence), sorted by key.
func (h *Hub) List(user string) []View { return h.list(user, false) }

// Inspect returns user's subscriptions with each contact's current
// presence, sorted by key, without refreshing them (for administrators).
func (h *Hub) Inspect(user string) []View { return h.list(user, true) }

func (h *Hub) list(user string, full bool) []View {
	h.mu.RLock()
	defer h.mu.RUnlock()
	u := h.users[user]
	if u == nil {
		return []View{}
	}
	out := make([]View, 0, len(u.byKey))
	for _, s := range u.byKey {
		out = append(out, h.viewLocked(s, full))
	}
	slices.SortFunc(out, func(a, b View) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return out
}

// dedupe drops repeated contacts, keeping the first occurrence's place.
func dedupe(contacts []string) []string {
	seen := make(map[string]struct{}, len(contacts))
	out := make([]string, 0, len(contacts))
	for _, c := range contacts {
		if _, ok := seen[c]; !ok {
			seen[c] = struct{}{}
			out = append(out, c)
		}
	}
	return out
}
