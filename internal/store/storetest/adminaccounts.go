package storetest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

// account returns an account whose hash names name and version, created
// at at(0) and never updated.
func account(name string) store.AdminAccount {
	return store.AdminAccount{Name: name, Hash: phc(name, 1), CreatedAt: at(0), UpdatedAt: at(0)}
}

// phc returns a fake argon2id PHC string naming who and version.
func phc(who string, version int) string {
	return "$argon2id$v=19$m=65536,t=3,p=4$" + who + "$" + strconv.Itoa(version)
}

// createAccounts stores accounts, failing the test on any error.
func createAccounts(t *testing.T, s store.Store, accounts ...store.AdminAccount) {
	t.Helper()
	for _, a := range accounts {
		if err := s.AdminAccounts().Create(t.Context(), a); err != nil {
			t.Fatalf("Create account %q: %v", a.Name, err)
		}
	}
}

// checkAccounts fails the test unless List returns exactly want, in
// order, and Count agrees.
func checkAccounts(t *testing.T, s store.Store, want []store.AdminAccount) {
	t.Helper()
	got, err := s.AdminAccounts().List(t.Context())
	if err != nil {
		t.Fatalf("List accounts: %v", err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("List accounts (-want +got):\n%s", diff)
	}
	n, err := s.AdminAccounts().Count(t.Context())
	if err != nil {
		t.Fatalf("Count accounts: %v", err)
	}
	if n != len(want) {
		t.Errorf("Count accounts = %d; want %d", n, len(want))
	}
}

func testAdminAccounts(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Empty", func(t *testing.T) {
		s := newStore(t, open)
		checkAccounts(t, s, nil)
		if got, err := s.AdminAccounts().Get(t.Context(), "admin"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get in empty store = %+v, %v; want ErrNotFound", got, err)
		}
	})

	t.Run("CreateGetList", func(t *testing.T) {
		s := newStore(t, open)
		// Created out of order, with mixed case: List sorts ignoring case.
		carol := account("carol")
		bob := account("Bob")
		bob.CreatedAt, bob.UpdatedAt = at(time.Second), at(2*time.Second)
		alice := account("alice@example.com")
		createAccounts(t, s, carol, bob, alice)
		checkAccounts(t, s, []store.AdminAccount{alice, bob, carol})

		tests := []struct {
			name string
			want store.AdminAccount
		}{
			{"carol", carol},
			{"Bob", bob},
			{"bob", bob}, // any case finds the name as created
			{"BOB", bob},
			{"ALICE@example.COM", alice},
		}
		for _, tt := range tests {
			got, err := s.AdminAccounts().Get(t.Context(), tt.name)
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.name, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("Get(%q) (-want +got):\n%s", tt.name, diff)
			}
		}
		for _, name := range []string{"", "bo", "bobb", "alice", " bob"} {
			if got, err := s.AdminAccounts().Get(t.Context(), name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(%q) = %+v, %v; want ErrNotFound", name, got, err)
			}
		}
	})

	t.Run("DuplicateName", func(t *testing.T) {
		s := newStore(t, open)
		first := account("Admin")
		createAccounts(t, s, first)
		for _, name := range []string{"Admin", "admin", "ADMIN", "aDmIn"} {
			dup := account(name)
			dup.Hash = phc("mallory", 9)
			if err := s.AdminAccounts().Create(t.Context(), dup); !errors.Is(err, store.ErrConflict) {
				t.Errorf("Create duplicate %q = %v; want ErrConflict", name, err)
			}
		}
		checkAccounts(t, s, []store.AdminAccount{first})
	})

	t.Run("Invalid", func(t *testing.T) {
		s := newStore(t, open)
		for _, a := range []store.AdminAccount{
			{Name: "", Hash: phc("x", 1), CreatedAt: at(0), UpdatedAt: at(0)},
			{Name: "nohash", CreatedAt: at(0), UpdatedAt: at(0)},
		} {
			if err := s.AdminAccounts().Create(t.Context(), a); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Create(%+v) = %v; want ErrInvalid", a, err)
			}
		}
		createAccounts(t, s, account("admin"))
		if err := s.AdminAccounts().SetHash(t.Context(), "admin", "", at(time.Hour)); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("SetHash to empty = %v; want ErrInvalid", err)
		}
		checkAccounts(t, s, []store.AdminAccount{account("admin")})
	})

	t.Run("SetHash", func(t *testing.T) {
		s := newStore(t, open)
		admin, other := account("Admin"), account("other")
		createAccounts(t, s, admin, other)
		steps := []struct {
			name string // as given to SetHash
			hash string
			at   time.Time
		}{
			{"Admin", phc("admin", 2), at(time.Minute)},
			{"admin", phc("admin", 3), at(time.Hour)}, // any case
		}
		for _, st := range steps {
			if err := s.AdminAccounts().SetHash(t.Context(), st.name, st.hash, st.at); err != nil {
				t.Fatalf("SetHash(%q): %v", st.name, err)
			}
			admin.Hash, admin.UpdatedAt = st.hash, st.at
			checkAccounts(t, s, []store.AdminAccount{admin, other})
		}
		if err := s.AdminAccounts().SetHash(t.Context(), "nobody", phc("nobody", 1), at(0)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetHash of a missing account = %v; want ErrNotFound", err)
		}
		checkAccounts(t, s, []store.AdminAccount{admin, other})
	})
}
