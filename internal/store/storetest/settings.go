package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

func testSettings(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("GetBeforePut", func(t *testing.T) {
		s := newStore(t, open)
		got, err := s.Settings().Get(t.Context())
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get before Put = %+v, %v; want ErrNotFound", got, err)
		}
	})

	// Each case Puts its values in order on a fresh store; after every
	// Put, Get must return exactly what was put.
	tests := []struct {
		name string
		puts []store.Settings
	}{
		{
			name: "defaults",
			puts: []store.Settings{{SubscriptionTTL: 180 * time.Second}},
		},
		{
			name: "empty domain list",
			puts: []store.Settings{{SubscriptionTTL: 10 * time.Second, AllowlistEnabled: true, AllowlistDomains: []string{}}},
		},
		{
			name: "domains",
			puts: []store.Settings{{
				SubscriptionTTL:  86400 * time.Second,
				AllowlistEnabled: true,
				AllowlistDomains: []string{"a.example", "b.example", "xn--bcher-kva.example"},
			}},
		},
		{
			name: "millisecond duration",
			puts: []store.Settings{{SubscriptionTTL: 1500 * time.Millisecond}},
		},
		{
			name: "replace",
			puts: []store.Settings{
				{SubscriptionTTL: time.Minute, AllowlistEnabled: true, AllowlistDomains: []string{"a.example", "b.example"}},
				{SubscriptionTTL: 2 * time.Minute, AllowlistEnabled: false, AllowlistDomains: []string{"c.example"}},
				{SubscriptionTTL: 3 * time.Minute, AllowlistEnabled: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, open)
			for i, want := range tt.puts {
				if err := s.Settings().Put(t.Context(), want); err != nil {
					t.Fatalf("Put #%d: %v", i, err)
				}
				got, err := s.Settings().Get(t.Context())
				if err != nil {
					t.Fatalf("Get after Put #%d: %v", i, err)
				}
				if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
					t.Errorf("Get after Put #%d (-want +got):\n%s", i, diff)
				}
			}
		})
	}

	t.Run("CallerOwnsSlices", func(t *testing.T) {
		s := newStore(t, open)
		domains := []string{"a.example", "b.example"}
		if err := s.Settings().Put(t.Context(), store.Settings{SubscriptionTTL: time.Minute, AllowlistDomains: domains}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		domains[0] = "mutated.example"
		got, err := s.Settings().Get(t.Context())
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		got.AllowlistDomains[1] = "mutated.example"
		got, err = s.Settings().Get(t.Context())
		if err != nil {
			t.Fatalf("second Get: %v", err)
		}
		want := store.Settings{SubscriptionTTL: time.Minute, AllowlistDomains: []string{"a.example", "b.example"}}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("Get after mutating slices (-want +got):\n%s", diff)
		}
	})
}
