package presence

import (
	"slices"
	"time"

	"github.com/presenced/presenced/internal/status"
)

// User is the presence of one XMPP user: the latest available presence of
// each of its online resources, merged by Presence into one value. The
// zero value is not usable; call NewUser. A User is not safe for
// concurrent use.
type User struct {
	now       func() time.Time
	state     userState
	resources []resource // at most MaxResources, in no particular order
	seq       uint64     // counts the stanzas applied, to order resources

	// offSince and offNote describe the last time the user went offline.
	offSince time.Time
	offNote  string
}

type userState uint8

const (
	statePending userState = iota // no presence seen yet
	stateKnown                    // resources hold the truth
	stateError                    // the last stanza was type=error
)

// resource is the latest available presence of one resource.
type resource struct {
	name     string
	show     Show
	status   string
	priority int8
	since    time.Time // when show, status or priority last changed
	changed  uint64    // seq of that change: the tie-break
	seen     uint64    // seq of the latest stanza: the eviction order
}

// NewUser returns a User that has seen no presence. now is its clock (the
// time Apply sees a stanza); nil means time.Now.
func NewUser(now func() time.Time) *User {
	if now == nil {
		now = time.Now
	}
	return &User{now: now}
}

// Apply updates u with one stanza from the user (Apply does not check From
// against the user) and reports whether Presence changed, Since included.
//
//   - available: sets the presence of From's resource; a resource that
//     resends the same show, status and priority keeps its Since. A new
//     resource beyond MaxResources drops the one updated longest ago.
//   - unavailable: removes From's resource, or every resource when From
//     is a bare JID.
//   - error: forgets every resource; Presence is Unknown until the next
//     available or unavailable stanza.
//   - probe and the subscription types carry no presence and are ignored
//     (a server that ends a subscription also sends unavailable, RFC 6121
//     §3.2.2).
func (u *User) Apply(s Stanza) bool {
	switch s.Type {
	case TypeAvailable, TypeUnavailable, TypeError:
	default:
		return false
	}
	before := u.Presence()
	u.seq++
	switch s.Type {
	case TypeAvailable:
		u.available(s)
	case TypeUnavailable:
		u.unavailable(s)
	case TypeError:
		u.state, u.resources = stateError, u.resources[:0]
	}
	return !before.Equal(u.Presence())
}

// stamp returns when the stanza's presence began: its delay stamp, unless
// absent or later than now, else now.
func (u *User) stamp(s Stanza) time.Time {
	now := u.now()
	if !s.Delay.IsZero() && s.Delay.Before(now) {
		return s.Delay
	}
	return now
}

func (u *User) available(s Stanza) {
	u.state = stateKnown
	i := slices.IndexFunc(u.resources, func(r resource) bool { return r.name == s.From.Resource })
	if i < 0 {
		if len(u.resources) == MaxResources {
			u.evict()
		}
		u.resources = append(u.resources, resource{name: s.From.Resource})
		i = len(u.resources) - 1
	}
	r := &u.resources[i]
	r.seen = u.seq
	if r.changed != 0 && r.show == s.Show && r.status == s.Status && r.priority == s.Priority {
		return
	}
	r.show, r.status, r.priority = s.Show, s.Status, s.Priority
	r.since, r.changed = u.stamp(s), u.seq
}

// evict drops the resource updated longest ago.
func (u *User) evict() {
	oldest := 0
	for i, r := range u.resources {
		if r.seen < u.resources[oldest].seen {
			oldest = i
		}
	}
	u.resources = slices.Delete(u.resources, oldest, oldest+1)
}

func (u *User) unavailable(s Stanza) {
	wasOffline := u.state == stateKnown && len(u.resources) == 0
	u.state = stateKnown
	if s.From.Resource == "" {
		u.resources = u.resources[:0]
	} else {
		u.resources = slices.DeleteFunc(u.resources, func(r resource) bool { return r.name == s.From.Resource })
	}
	if len(u.resources) == 0 && !wasOffline {
		u.offSince, u.offNote = u.stamp(s), s.Status
	}
}

// Presence merges the resources by the rule of docs/xmpp-presence.md:
//
//  1. No stanza seen yet: Unknown, reason Pending. Last stanza type=error:
//     Unknown, reason BackendError.
//  2. No available resource: Offline; Note is the status of the
//     unavailable presence that took the last resource away, Since its
//     time.
//  3. Otherwise the chosen resource decides: the highest priority
//     (negative priorities count like any other), then the most available
//     show (chat, none, away, xa, dnd), then the most recent change. Its
//     show maps to Available (none, chat), Away (away, xa) or DoNotDisturb
//     (dnd); Note is its status and Since the time of its last change.
//
// Activity is never set.
func (u *User) Presence() status.Presence {
	switch {
	case u.state == statePending:
		return status.UnknownBecause(status.Pending)
	case u.state == stateError:
		return status.UnknownBecause(status.BackendError)
	case len(u.resources) == 0:
		return status.Presence{Availability: status.Offline, Note: u.offNote, Since: u.offSince}
	}
	best := u.resources[0]
	for _, r := range u.resources[1:] {
		if better(r, best) {
			best = r
		}
	}
	return status.Presence{Availability: availability(best.show), Note: best.status, Since: best.since}
}

// better reports whether r beats best in the merge order.
func better(r, best resource) bool {
	if r.priority != best.priority {
		return r.priority > best.priority
	}
	if sr, sb := showRank(r.show), showRank(best.show); sr != sb {
		return sr > sb
	}
	return r.changed > best.changed
}

// showRank orders the show values from most to least available.
func showRank(s Show) int {
	switch s {
	case ShowChat:
		return 4
	case ShowNone:
		return 3
	case ShowAway:
		return 2
	case ShowXA:
		return 1
	}
	return 0 // ShowDND
}

// availability maps a show value (RFC 6121 §4.7.2.1) to presenced's
// availability. xa, "extended away", is Away: status has no longer kind of
// absence short of Offline, and BeRightBack promises a quick return.
func availability(s Show) status.Availability {
	switch s {
	case ShowAway, ShowXA:
		return status.Away
	case ShowDND:
		return status.DoNotDisturb
	}
	return status.Available
}

// Resources returns the names of the user's available resources, sorted;
// "" stands for a presence sent from the bare JID.
func (u *User) Resources() []string {
	names := make([]string, 0, len(u.resources))
	for _, r := range u.resources {
		names = append(names, r.name)
	}
	slices.Sort(names)
	return names
}
