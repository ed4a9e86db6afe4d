package auth

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/clock/clocktest"
)

func TestRateLimiter(t *testing.T) {
	type step struct {
		Advance    time.Duration // before the call
		ID         string
		OK         bool
		RetryAfter time.Duration
	}
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		steps     []step
	}{
		{
			name: "burst then refusal then refill", perSecond: 2, burst: 3,
			steps: []step{
				{ID: "a", OK: true},
				{ID: "a", OK: true},
				{ID: "a", OK: true},
				{ID: "a", RetryAfter: 500 * time.Millisecond},
				{Advance: 200 * time.Millisecond, ID: "a", RetryAfter: 300 * time.Millisecond},
				{Advance: 300 * time.Millisecond, ID: "a", OK: true},
				{ID: "a", RetryAfter: 500 * time.Millisecond},
				{Advance: 10 * time.Second, ID: "a", OK: true}, // refills to burst, not beyond
				{ID: "a", OK: true},
				{ID: "a", OK: true},
				{ID: "a", RetryAfter: 500 * time.Millisecond},
			},
		},
		{
			name: "independent ids", perSecond: 1, burst: 1,
			steps: []step{
				{ID: "a", OK: true},
				{ID: "a", RetryAfter: time.Second},
				{ID: "b", OK: true},
				{ID: "b", RetryAfter: time.Second},
				{ID: "oidc:c@example.com", OK: true},
			},
		},
		{
			name: "slow rate", perSecond: 0.1, burst: 1,
			steps: []step{
				{ID: "a", OK: true},
				{ID: "a", RetryAfter: 10 * time.Second},
				{Advance: 9 * time.Second, ID: "a", RetryAfter: time.Second},
				{Advance: time.Second, ID: "a", OK: true},
			},
		},
		{
			name: "burst below one means one", perSecond: 1, burst: 0,
			steps: []step{
				{ID: "a", OK: true},
				{ID: "a", RetryAfter: time.Second},
			},
		},
		{
			name: "unlimited", perSecond: 0, burst: 1,
			steps: []step{
				{ID: "a", OK: true}, {ID: "a", OK: true}, {ID: "a", OK: true}, {ID: "a", OK: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			l := NewRateLimiter(tt.perSecond, tt.burst, clk)
			var got []step
			for _, s := range tt.steps {
				clk.Advance(s.Advance)
				ok, retry := l.Allow(s.ID)
				got = append(got, step{Advance: s.Advance, ID: s.ID, OK: ok, RetryAfter: retry})
			}
			if diff := cmp.Diff(tt.steps, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRateLimiterUnlimitedHoldsNothing(t *testing.T) {
	l := NewRateLimiter(0, 5, clocktest.New(t0))
	for i := range 100 {
		l.Allow(strconv.Itoa(i))
	}
	if n := l.size(); n != 0 {
		t.Errorf("unlimited limiter holds %d buckets, want 0", n)
	}
}

func TestRateLimiterEvictsRefilledBuckets(t *testing.T) {
	clk := clocktest.New(t0)
	l := NewRateLimiter(1, 2, clk)
	for i := range minSweepAt - 1 { // with busy below, just under the sweep threshold
		l.Allow("idle-" + strconv.Itoa(i))
	}
	l.Allow("busy")
	l.Allow("busy")
	// One second later the idle buckets (one token used of two) are full
	// again; "busy" (both used) is not.
	clk.Advance(time.Second)
	l.Allow("new")
	if got, want := l.size(), 2; got != want {
		t.Fatalf("buckets after the sweep = %d, want %d (busy and new)", got, want)
	}
	// The busy id kept its state: one token refilled, then empty.
	if ok, _ := l.Allow("busy"); !ok {
		t.Errorf("busy: first call after one second refused")
	}
	if ok, retry := l.Allow("busy"); ok || retry != time.Second {
		t.Errorf("busy: second call = %v, %v; want refused for 1s", ok, retry)
	}
}

func TestRateLimiterBoundedUnderChurn(t *testing.T) {
	clk := clocktest.New(t0)
	l := NewRateLimiter(10, 1, clk)
	for i := range 20 * minSweepAt {
		l.Allow(strconv.Itoa(i))
		clk.Advance(10 * time.Millisecond) // each bucket is full again 100ms later
	}
	if n := l.size(); n > 2*minSweepAt {
		t.Errorf("buckets after churn = %d, want at most %d", n, 2*minSweepAt)
	}
}
