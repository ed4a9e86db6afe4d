package storetest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

func testTokens(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateLookup", func(t *testing.T) {
		s := newStore(t, open)
		tokens := []store.Token{
			{Hash: hash("client-1"), Kind: store.ClientToken, User: "alice@example.com", CreatedAt: at(0)},
			{Hash: hash("client-2"), Kind: store.ClientToken, User: "alice@example.com", CreatedAt: at(1)},
			{Hash: hash("client-3"), Kind: store.ClientToken, User: "bob@example.com", CreatedAt: at(2)},
			{Hash: hash("admin-1"), Kind: store.AdminToken, User: "", CreatedAt: at(3)},
		}
		for _, tok := range tokens {
			if err := s.Tokens().Create(t.Context(), tok); err != nil {
				t.Fatalf("Create %s token of %q: %v", tok.Kind, tok.User, err)
			}
		}
		for _, want := range tokens {
			got, err := s.Tokens().Lookup(t.Context(), want.Hash)
			if err != nil {
				t.Fatalf("Lookup %s token of %q: %v", want.Kind, want.User, err)
			}
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("Lookup (-want +got):\n%s", diff)
			}
		}
	})

	t.Run("DuplicateHash", func(t *testing.T) {
		s := newStore(t, open)
		first := store.Token{Hash: hash("same"), Kind: store.ClientToken, User: "alice@example.com", CreatedAt: at(0)}
		if err := s.Tokens().Create(t.Context(), first); err != nil {
			t.Fatalf("Create: %v", err)
		}
		dups := []store.Token{
			first,
			{Hash: first.Hash, Kind: store.ClientToken, User: "mallory@example.com", CreatedAt: at(1)},
			{Hash: first.Hash, Kind: store.AdminToken, CreatedAt: at(2)},
		}
		for _, dup := range dups {
			if err := s.Tokens().Create(t.Context(), dup); !errors.Is(err, store.ErrConflict) {
				t.Errorf("Create duplicate %+v = %v; want ErrConflict", dup, err)
			}
		}
		got, err := s.Tokens().Lookup(t.Context(), first.Hash)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if diff := cmp.Diff(first, got, cmpOpts); diff != "" {
			t.Errorf("Lookup after duplicates (-want +got):\n%s", diff)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		s := newStore(t, open)
		if got, err := s.Tokens().Lookup(t.Context(), hash("nothing stored")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Lookup in empty store = %+v, %v; want ErrNotFound", got, err)
		}
		if err := s.Tokens().Create(t.Context(), store.Token{Hash: hash("known"), Kind: store.AdminToken, CreatedAt: at(0)}); err != nil {
			t.Fatalf("Create: %v", err)
		}
		for _, h := range [][32]byte{hash("unknown"), {}} {
			if got, err := s.Tokens().Lookup(t.Context(), h); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Lookup(%x) = %+v, %v; want ErrNotFound", h, got, err)
			}
		}
	})
}
