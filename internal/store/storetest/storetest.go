// Package storetest is the conformance suite for store.Store
// implementations. Every implementation runs Run (behaviour of a fresh
// store) and RunReopen (durability across a close and reopen) from its own
// tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// Times and durations are compared at millisecond precision with
// time.Time.Equal, so an implementation may return them in any location.
// Nil and empty slices are treated as equal.
package storetest

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/presenced/presenced/internal/store"
)

// Run runs the conformance suite. open must return a fresh, empty store;
// Run calls it once per subtest and closes every store it gets, so open
// must not register a Close of its own.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	t.Run("Settings", func(t *testing.T) { testSettings(t, open) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open) })
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, open) })
	t.Run("Hints", func(t *testing.T) { testHints(t, open) })
	t.Run("AdminAccounts", func(t *testing.T) { testAdminAccounts(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("Config", func(t *testing.T) { testConfig(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open) })
	t.Run("ConcurrentSameName", func(t *testing.T) { testConcurrentSameName(t, open) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelled(t, open) })
}

// newStore opens a store and closes it when the test ends.
func newStore(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// cmpOpts compares times by instant and treats nil and empty slices alike.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	cmpopts.EquateEmpty(),
}

// sortSubscriptions and sortHints make List and Take results comparable.
var (
	sortSubscriptions = cmpopts.SortSlices(func(a, b store.Subscription) bool { return a.ID < b.ID })
	sortHints         = cmpopts.SortSlices(func(a, b store.Hint) bool { return a.Subscription < b.Subscription })
)

// at returns a fixed instant, offset by d, at millisecond precision and in
// a non-UTC zone so that implementations must preserve the instant, not the
// wall clock.
func at(d time.Duration) time.Time {
	base := time.Date(2026, time.November, 23, 10, 0, 0, 123_000_000, time.FixedZone("CET", 3600))
	return base.Add(d).Truncate(time.Millisecond)
}

// hash returns the SHA-256 of secret, as tokens are stored.
func hash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// contacts returns n distinct addresses in descending order, so that an
// implementation that sorts them fails.
func contacts(n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("user%04d@example.com", n-i)
	}
	return out
}
