package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

func testConfig(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("GetBeforePut", func(t *testing.T) {
		s := newStore(t, open)
		got, err := s.Config().Get(t.Context())
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get before Put = %+v, %v; want ErrNotFound", got, err)
		}
	})

	// Values come back as JSON decodes them: numbers as float64, lists as
	// []any, mappings as map[string]any.
	tests := []struct {
		name string
		puts []store.SavedConfig
	}{
		{"empty", []store.SavedConfig{{Values: map[string]any{}, UpdatedAt: at(0), UpdatedBy: "ada"}}},
		{"scalars and lists", []store.SavedConfig{{Values: map[string]any{
			"backend.sip.server":                     "sip.example.com:5061",
			"backend.max_subscriptions_per_endpoint": float64(250),
			"directory.ldap.starttls":                true,
			"backend.endpoints":                      []any{"sip:a@example.com", "sip:b@example.com"},
		}, UpdatedAt: at(0), UpdatedBy: "ada"}}},
		{"list of mappings", []store.SavedConfig{{Values: map[string]any{
			"backend.xmpp.clusters": []any{map[string]any{"name": "main", "server": "xmpp.example.com:5275", "domains": []any{"example.com"}}},
		}, UpdatedAt: at(0), UpdatedBy: "ada"}}},
		{"replace", []store.SavedConfig{
			{Values: map[string]any{"backend.sip.server": "a.example.com"}, UpdatedAt: at(0), UpdatedBy: "ada"},
			{Values: map[string]any{"backend.sip.domain": "example.com"}, UpdatedAt: at(1), UpdatedBy: "grace"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, open)
			for i, want := range tt.puts {
				if err := s.Config().Put(t.Context(), want); err != nil {
					t.Fatalf("Put #%d: %v", i, err)
				}
				got, err := s.Config().Get(t.Context())
				if err != nil {
					t.Fatalf("Get after Put #%d: %v", i, err)
				}
				if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
					t.Errorf("Get after Put #%d (-want +got):\n%s", i, diff)
				}
			}
		})
	}

	t.Run("TooLarge", func(t *testing.T) {
		s := newStore(t, open)
		first := store.SavedConfig{Values: map[string]any{"backend.sip.server": "kept.example.com"}, UpdatedAt: at(0), UpdatedBy: "ada"}
		if err := s.Config().Put(t.Context(), first); err != nil {
			t.Fatalf("Put: %v", err)
		}
		big := store.SavedConfig{Values: map[string]any{"backend.sip.server": strings.Repeat("x", store.MaxSavedConfig)}, UpdatedAt: at(1)}
		if err := s.Config().Put(t.Context(), big); !errors.Is(err, store.ErrTooLarge) {
			t.Fatalf("Put of %d bytes = %v, want ErrTooLarge", store.MaxSavedConfig, err)
		}
		got, err := s.Config().Get(t.Context())
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if diff := cmp.Diff(first, got, cmpOpts); diff != "" {
			t.Errorf("a refused Put changed the record (-want +got):\n%s", diff)
		}
	})

	t.Run("NotJSON", func(t *testing.T) {
		s := newStore(t, open)
		err := s.Config().Put(t.Context(), store.SavedConfig{Values: map[string]any{"x": make(chan int)}})
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Put of a channel = %v, want ErrInvalid", err)
		}
	})
}
