package dialog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSubscriptionState(t *testing.T) {
	tests := []struct {
		in   string
		want SubscriptionState
	}{
		{"active", SubscriptionState{State: StateActive}},
		{"active;expires=3600", SubscriptionState{State: StateActive, Expires: time.Hour, HasExpires: true}},
		{" Active ; EXPIRES = 60 ", SubscriptionState{State: StateActive, Expires: time.Minute, HasExpires: true}},
		{"pending;expires=30", SubscriptionState{State: StatePending, Expires: 30 * time.Second, HasExpires: true}},
		{"terminated;reason=timeout", SubscriptionState{State: StateTerminated, Reason: ReasonTimeout}},
		{"terminated;reason=probation;retry-after=30", SubscriptionState{State: StateTerminated, Reason: ReasonProbation, RetryAfter: 30 * time.Second, HasRetryAfter: true}},
		{"terminated;reason=Rejected", SubscriptionState{State: StateTerminated, Reason: ReasonRejected}},
		{"terminated;reason=deactivated", SubscriptionState{State: StateTerminated, Reason: ReasonDeactivated}},
		{"terminated;reason=giveup;retry-after=5", SubscriptionState{State: StateTerminated, Reason: ReasonGiveUp, RetryAfter: 5 * time.Second, HasRetryAfter: true}},
		{"terminated;reason=noresource", SubscriptionState{State: StateTerminated, Reason: ReasonNoResource}},
		{"terminated;reason=invariant", SubscriptionState{State: StateTerminated, Reason: ReasonInvariant}},
		{"terminated;reason=moved-away", SubscriptionState{State: StateTerminated, Reason: ReasonOther}},
		{"terminated", SubscriptionState{State: StateTerminated}},
		// Unknown parameters are ignored; the first of a repeated one counts.
		{"active;expires=10;expires=99;x-vendor=1;flag", SubscriptionState{State: StateActive, Expires: 10 * time.Second, HasExpires: true}},
		// An extension substate is kept as such (treated as active by callers).
		{"waiting;expires=5", SubscriptionState{State: StateOther, Expires: 5 * time.Second, HasExpires: true}},
		// delta-seconds beyond the cap are capped, not wrapped.
		{"active;expires=99999999999999999999", SubscriptionState{State: StateActive, Expires: maxDeltaSeconds * time.Second, HasExpires: true}},
	}
	for _, tt := range tests {
		got, err := ParseSubscriptionState(tt.in)
		if err != nil {
			t.Errorf("ParseSubscriptionState(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseSubscriptionState(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseSubscriptionStateErrors(t *testing.T) {
	for _, in := range []string{
		"", " ;expires=5", "act ive", "active;expires=", "active;expires=-1", "active;expires=1.5",
		"terminated;retry-after=soon", "acti\x00ve", strings.Repeat("a", maxHeaderLen+1),
	} {
		if _, err := ParseSubscriptionState(in); !errors.Is(err, ErrBadSubscriptionState) {
			t.Errorf("ParseSubscriptionState(%q) = %v, want ErrBadSubscriptionState", in, err)
		}
	}
}

func TestAfterTermination(t *testing.T) {
	tests := []struct {
		in   string
		want Decision
	}{
		{"terminated;reason=deactivated", Decision{Action: Resubscribe}},
		{"terminated;reason=timeout;retry-after=99", Decision{Action: Resubscribe}},
		{"terminated;reason=probation", Decision{Action: Resubscribe, Backoff: true}},
		{"terminated;reason=probation;retry-after=30", Decision{Action: Resubscribe, After: 30 * time.Second}},
		{"terminated;reason=giveup;retry-after=7", Decision{Action: Resubscribe, After: 7 * time.Second}},
		{"terminated;reason=giveup", Decision{Action: Resubscribe, Backoff: true}},
		{"terminated;reason=rejected;retry-after=5", Decision{Action: GiveUp}},
		{"terminated;reason=noresource", Decision{Action: GiveUp}},
		{"terminated;reason=invariant", Decision{Action: GiveUp}},
		{"terminated", Decision{Action: Resubscribe, Backoff: true}},
		{"terminated;reason=x-new;retry-after=3", Decision{Action: Resubscribe, After: 3 * time.Second}},
	}
	for _, tt := range tests {
		ss, err := ParseSubscriptionState(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, AfterTermination(ss)); diff != "" {
			t.Errorf("AfterTermination(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestRefreshLead(t *testing.T) {
	tests := []struct{ granted, want time.Duration }{
		{0, 0},
		{-time.Second, 0},
		{4 * time.Second, time.Second},
		{time.Minute, 15 * time.Second},
		{time.Hour, time.Minute},
	}
	for _, tt := range tests {
		if got := RefreshLead(tt.granted); got != tt.want {
			t.Errorf("RefreshLead(%v) = %v, want %v", tt.granted, got, tt.want)
		}
	}
}

func TestStringers(t *testing.T) {
	got := []string{StateActive.String(), StateTerminated.String(), State(99).String(), ReasonProbation.String(), Reason(99).String()}
	want := []string{"active", "terminated", "State(99)", "probation", "Reason(99)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}
}

// FuzzParseSubscriptionState checks that no header value crashes the
// parser, that every error wraps ErrBadSubscriptionState, and that a
// parsed value yields a decision with no negative delay.
func FuzzParseSubscriptionState(f *testing.F) {
	for _, s := range []string{"active;expires=3600", "terminated;reason=probation;retry-after=30", "pending", "x;;=;expires=1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ss, err := ParseSubscriptionState(in)
		if err != nil {
			if !errors.Is(err, ErrBadSubscriptionState) {
				t.Fatalf("error %v does not wrap ErrBadSubscriptionState", err)
			}
			return
		}
		if ss.State < StateActive || ss.State > StateOther || ss.Expires < 0 || ss.RetryAfter < 0 {
			t.Fatalf("ParseSubscriptionState(%q) = %+v", in, ss)
		}
		if d := AfterTermination(ss); d.After < 0 || (d.Action != Resubscribe && d.Action != GiveUp) {
			t.Fatalf("AfterTermination(%+v) = %+v", ss, d)
		}
	})
}
