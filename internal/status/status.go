// Package status defines presence values: the availability names, the
// legacy integer codes apps depend on, the reasons an availability is
// Unknown, and the Presence value that flows from backends to apps.
//
// It is a leaf package: every other package may import it, it imports
// nothing of presenced.
package status

import (
	"fmt"
	"time"
)

// Availability is a contact's availability as apps see it.
type Availability uint8

// The availabilities, in the order of their legacy codes. Unknown is the
// zero value so that an unset Presence reads as Unknown.
const (
	Unknown Availability = iota
	Available
	Busy
	DoNotDisturb
	BeRightBack
	Away
	Offline
)

var availabilityNames = [...]string{
	Unknown:      "Unknown",
	Available:    "Available",
	Busy:         "Busy",
	DoNotDisturb: "DoNotDisturb",
	BeRightBack:  "BeRightBack",
	Away:         "Away",
	Offline:      "Offline",
}

// legacyCodes are the integer codes emitted for compatibility (API.md §3).
var legacyCodes = [...]int{
	Unknown:      -1,
	Available:    3500,
	Busy:         6000,
	DoNotDisturb: 9000,
	BeRightBack:  12000,
	Away:         15500,
	Offline:      18000,
}

// String returns the availability's API name, e.g. "DoNotDisturb".
func (a Availability) String() string {
	if int(a) < len(availabilityNames) {
		return availabilityNames[a]
	}
	return fmt.Sprintf("Availability(%d)", uint8(a))
}

// Code returns the legacy integer code of a.
func (a Availability) Code() int {
	if int(a) < len(legacyCodes) {
		return legacyCodes[a]
	}
	return -1
}

// ParseAvailability returns the availability named s (exact, case-sensitive
// API names). It reports false for any other string.
func ParseAvailability(s string) (Availability, bool) {
	for a, name := range availabilityNames {
		if name == s {
			return Availability(a), true
		}
	}
	return Unknown, false
}

// FromCode buckets an incoming legacy integer code into an availability and
// reports whether the code lies in an "idle" sub-range (4500–5999 of
// Available, 7500–8999 of Busy).
//
//	0–5999 Available, 6000–8999 Busy, 9000–11999 DoNotDisturb,
//	12000–14999 BeRightBack, 15000–17999 Away, 18000+ Offline, <0 Unknown.
func FromCode(code int) (a Availability, idle bool) {
	switch {
	case code < 0:
		return Unknown, false
	case code < 6000:
		return Available, code >= 4500
	case code < 9000:
		return Busy, code >= 7500
	case code < 12000:
		return DoNotDisturb, false
	case code < 15000:
		return BeRightBack, false
	case code < 18000:
		return Away, false
	default:
		return Offline, false
	}
}

// Reason says why an availability is Unknown.
type Reason uint8

// The reasons. NoReason is the zero value: the availability is known, or
// Unknown for no cause presenced can name.
const (
	NoReason Reason = iota
	Pending
	DomainNotAllowed
	NotFound
	NotEnabled
	NoCapacity
	BackendError
)

var reasonNames = [...]string{
	NoReason:         "",
	Pending:          "pending",
	DomainNotAllowed: "domain_not_allowed",
	NotFound:         "not_found",
	NotEnabled:       "not_enabled",
	NoCapacity:       "no_capacity",
	BackendError:     "backend_error",
}

// String returns the reason's API name ("" for NoReason).
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Presence is the state of one contact. The zero value is Unknown with no
// reason.
type Presence struct {
	Availability Availability
	// Reason is set only when Availability is Unknown.
	Reason   Reason
	Activity string // free-form activity token, e.g. "InAMeeting"
	Note     string // the user's note
	// Since is when the state last changed; zero when not known.
	Since time.Time
}

// UnknownBecause returns an Unknown presence with reason r.
func UnknownBecause(r Reason) Presence {
	return Presence{Availability: Unknown, Reason: r}
}

// Equal reports whether p and q describe the same state.
func (p Presence) Equal(q Presence) bool {
	return p.Availability == q.Availability && p.Reason == q.Reason &&
		p.Activity == q.Activity && p.Note == q.Note && p.Since.Equal(q.Since)
}

// SameState reports whether p and q are equal apart from Since.
func (p Presence) SameState(q Presence) bool {
	return p.Availability == q.Availability && p.Reason == q.Reason &&
		p.Activity == q.Activity && p.Note == q.Note
}
