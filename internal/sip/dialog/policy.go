package dialog

import "time"

// Action is what a subscriber does after its subscription ended.
type Action uint8

// The actions.
const (
	// Resubscribe: start a new subscription after Decision.After
	// (zero: at once).
	Resubscribe Action = iota + 1
	// GiveUp: do not subscribe again; the resource or the authorisation
	// is gone (the contact's presence is unknown until the watch is asked
	// for anew).
	GiveUp
)

// Decision is the subscriber's answer to a terminated subscription.
type Decision struct {
	Action Action
	// After is the delay before resubscribing. Backoff reports whether
	// the caller should instead use its own jittered backoff (no delay is
	// mandated and retrying at once could loop).
	After   time.Duration
	Backoff bool
}

// AfterTermination applies RFC 6665 §4.1.3 to a NOTIFY's terminated
// Subscription-State:
//   - deactivated, timeout: resubscribe at once;
//   - probation, giveup: resubscribe after retry-after, or with backoff when
//     none is given;
//   - rejected, noresource, invariant: give up (retry-after, if any, is
//     ignored: RFC 6665 says not to retry);
//   - no reason or an unknown one: resubscribe, after retry-after if given,
//     else with backoff.
func AfterTermination(ss SubscriptionState) Decision {
	switch ss.Reason {
	case ReasonDeactivated, ReasonTimeout:
		return Decision{Action: Resubscribe}
	case ReasonRejected, ReasonNoResource, ReasonInvariant:
		return Decision{Action: GiveUp}
	}
	if ss.HasRetryAfter {
		return Decision{Action: Resubscribe, After: ss.RetryAfter}
	}
	return Decision{Action: Resubscribe, Backoff: true}
}

// RefreshLead is how long before a subscription expires the subscriber
// refreshes it: a quarter of the granted duration, at most a minute, so
// that a refresh lost once can be retried before the server gives up the
// subscription. It is never negative.
func RefreshLead(granted time.Duration) time.Duration {
	if granted <= 0 {
		return 0
	}
	return min(granted/4, time.Minute)
}
