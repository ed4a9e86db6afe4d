// Package dialog holds presenced's RFC 6665 subscription-dialog logic for
// the SIP SIMPLE backend: what a Subscription-State header says, and what
// a subscriber must do about it. sipgo provides transactions and
// transports but no SUBSCRIBE/NOTIFY dialogs; this package is the part of
// that layer that needs no network, so it is tested (and fuzzed) alone.
package dialog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is the substate-value of a Subscription-State header
// (RFC 6665 §4.1.3, §8.4).
type State uint8

// The substates. StateOther is an extension substate, which RFC 6665
// §4.1.3 says to treat as active.
const (
	StateActive State = iota + 1
	StatePending
	StateTerminated
	StateOther
)

var stateNames = map[State]string{
	StateActive: "active", StatePending: "pending", StateTerminated: "terminated", StateOther: "other",
}

// String returns the substate's token.
func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Reason is the event-reason-value of a terminated subscription
// (RFC 6665 §4.2.2, the IANA registry of §8.4).
type Reason uint8

// The reasons. ReasonNone: no reason parameter; ReasonOther: an
// extension value.
const (
	ReasonNone Reason = iota
	ReasonDeactivated
	ReasonProbation
	ReasonRejected
	ReasonTimeout
	ReasonGiveUp
	ReasonNoResource
	ReasonInvariant
	ReasonOther
)

var reasonNames = [...]string{
	ReasonNone:        "",
	ReasonDeactivated: "deactivated",
	ReasonProbation:   "probation",
	ReasonRejected:    "rejected",
	ReasonTimeout:     "timeout",
	ReasonGiveUp:      "giveup",
	ReasonNoResource:  "noresource",
	ReasonInvariant:   "invariant",
	ReasonOther:       "other",
}

// String returns the reason's token ("" for ReasonNone).
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// SubscriptionState is a parsed Subscription-State header value.
type SubscriptionState struct {
	State  State
	Reason Reason // only meaningful when State is StateTerminated
	// Expires is the expires parameter; HasExpires reports whether it
	// was present.
	Expires    time.Duration
	HasExpires bool
	// RetryAfter is the retry-after parameter; HasRetryAfter reports
	// whether it was present.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// maxHeaderLen bounds the header value parsed; real ones are a few tens
// of bytes.
const maxHeaderLen = 1024

// maxDeltaSeconds caps expires and retry-after: RFC 3261's delta-seconds
// allows 2^32-1, far beyond any subscription.
const maxDeltaSeconds = 1 << 31

// ErrBadSubscriptionState is wrapped by every ParseSubscriptionState
// error.
var ErrBadSubscriptionState = errors.New("bad Subscription-State")

// ParseSubscriptionState parses a Subscription-State header value, e.g.
// "active;expires=3600" or "terminated;reason=probation;retry-after=30".
// Tokens are case-insensitive; unknown parameters are ignored, as are
// repeated ones after the first; a malformed expires or retry-after is an
// error.
func ParseSubscriptionState(v string) (SubscriptionState, error) {
	var ss SubscriptionState
	if len(v) > maxHeaderLen {
		return ss, fmt.Errorf("%w: %d bytes, at most %d", ErrBadSubscriptionState, len(v), maxHeaderLen)
	}
	parts := strings.Split(v, ";")
	value := strings.ToLower(strings.TrimSpace(parts[0]))
	switch value {
	case "active":
		ss.State = StateActive
	case "pending":
		ss.State = StatePending
	case "terminated":
		ss.State = StateTerminated
	case "":
		return ss, fmt.Errorf("%w: no substate in %q", ErrBadSubscriptionState, v)
	default:
		if !isToken(value) {
			return ss, fmt.Errorf("%w: substate %q is not a token", ErrBadSubscriptionState, value)
		}
		ss.State = StateOther
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		name, val, _ := strings.Cut(p, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.TrimSpace(val)
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		switch name {
		case "reason":
			ss.Reason = parseReason(strings.ToLower(val))
		case "expires":
			d, err := deltaSeconds(val)
			if err != nil {
				return ss, fmt.Errorf("%w: expires: %w", ErrBadSubscriptionState, err)
			}
			ss.Expires, ss.HasExpires = d, true
		case "retry-after":
			d, err := deltaSeconds(val)
			if err != nil {
				return ss, fmt.Errorf("%w: retry-after: %w", ErrBadSubscriptionState, err)
			}
			ss.RetryAfter, ss.HasRetryAfter = d, true
		}
	}
	return ss, nil
}

func parseReason(v string) Reason {
	for r, name := range reasonNames {
		if r != int(ReasonNone) && r != int(ReasonOther) && name == v {
			return Reason(r)
		}
	}
	if v == "" {
		return ReasonNone
	}
	return ReasonOther
}

// deltaSeconds parses RFC 3261's delta-seconds (1*DIGIT), capped at
// maxDeltaSeconds.
func deltaSeconds(v string) (time.Duration, error) {
	if v == "" {
		return 0, errors.New("empty value")
	}
	for i := range len(v) {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("%q is not a number of seconds", v)
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > maxDeltaSeconds {
		n = maxDeltaSeconds
	}
	return time.Duration(n) * time.Second, nil
}

// isToken reports whether s is an RFC 3261 token.
func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}
