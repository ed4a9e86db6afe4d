package sqlite

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// benchStore opens a store in a fresh directory for a benchmark.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "presenced.db"), nil)
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchContacts returns n contact addresses.
func benchContacts(n int) []string {
	contacts := make([]string, n)
	for j := range contacts {
		contacts[j] = fmt.Sprintf("contact%04d@example.com", j)
	}
	return contacts
}

// benchSubscription returns subscription i watching contacts.
func benchSubscription(i int, contacts []string) store.Subscription {
	return store.Subscription{
		ID:        fmt.Sprintf("sub-%08d", i),
		User:      "alice@example.com",
		Key:       fmt.Sprintf("key-%08d", i),
		TTL:       180 * time.Second,
		ExpiresAt: time.UnixMilli(1_800_000_000_000),
		Sequence:  uint64(i),
		PushToken: "apns:0123456789abcdef0123456789abcdef",
		Contacts:  contacts,
	}
}

// BenchmarkSubscriptionPut stores subscriptions of 100 contacts: new ones
// (create) and the same one again (replace, as a PATCH does).
func BenchmarkSubscriptionPut(b *testing.B) {
	b.Run("create", func(b *testing.B) {
		s := benchStore(b)
		x := benchSubscription(0, benchContacts(100))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			x.ID = "sub-" + strconv.Itoa(i)
			x.Key = x.ID
			if err := s.Subscriptions().Put(b.Context(), x); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replace", func(b *testing.B) {
		s := benchStore(b)
		x := benchSubscription(0, benchContacts(100))
		b.ReportAllocs()
		for b.Loop() {
			x.Sequence++
			if err := s.Subscriptions().Put(b.Context(), x); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTouch persists a batch of 1000 expiry and sequence changes.
func BenchmarkTouch(b *testing.B) {
	const batch = 1000
	s := benchStore(b)
	touches := make([]store.Touch, batch)
	contacts := benchContacts(10)
	for i := range touches {
		x := benchSubscription(i, contacts)
		if err := s.Subscriptions().Put(b.Context(), x); err != nil {
			b.Fatal(err)
		}
		touches[i] = store.Touch{ID: x.ID, ExpiresAt: x.ExpiresAt}
	}
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		for i := range touches {
			touches[i].Sequence = seq
		}
		if err := s.Subscriptions().Touch(b.Context(), touches); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/touch")
}
