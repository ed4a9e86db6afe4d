package directorytest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/presenced/presenced/internal/directory"
)

// session is one subtest's view of the Directory under test.
type session struct {
	t   *testing.T
	h   Harness
	tok string // unique to the subtest and the run; lower-case hex
}

// callContext bounds one call into the Directory or the harness.
func (s *session) callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.t.Context(), s.h.Timeout)
}

// user returns a user named by the session token and suffix: mail
// "m<tok><suffix>@example.com", account "s<tok><suffix>", display name
// "Dn<tok><suffix> Person".
func (s *session) user(suffix string) User {
	id := s.tok + suffix
	return User{
		Mail:           "m" + id + "@" + Domain,
		SAMAccountName: "s" + id,
		DisplayName:    "Dn" + id + " Person",
	}
}

// add adds users through the harness.
func (s *session) add(users ...User) {
	s.t.Helper()
	ctx, cancel := s.callContext()
	defer cancel()
	if err := s.h.AddUsers(ctx, users); err != nil {
		s.t.Fatalf("AddUsers: %v", err)
	}
}

// lookup looks email up and fails the subtest on an error.
func (s *session) lookup(email string) directory.Entry {
	s.t.Helper()
	ctx, cancel := s.callContext()
	defer cancel()
	e, err := s.h.Directory.Lookup(ctx, email)
	if err != nil {
		s.t.Fatalf("Lookup(%q): %v", email, err)
	}
	return e
}

// expectLookup checks that Lookup(email) returns want.
func (s *session) expectLookup(email string, want directory.Entry) {
	s.t.Helper()
	if diff := cmp.Diff(want, s.lookup(email)); diff != "" {
		s.t.Errorf("Lookup(%q) (-want +got):\n%s", email, diff)
	}
}

// expectLookupErr checks that Lookup(email) fails with an error matching
// want.
func (s *session) expectLookupErr(email string, want error) {
	s.t.Helper()
	ctx, cancel := s.callContext()
	defer cancel()
	e, err := s.h.Directory.Lookup(ctx, email)
	if !errors.Is(err, want) {
		s.t.Errorf("Lookup(%q) = %+v, %v; want an error matching %q", email, e, err, want)
	}
}

// search searches and fails the subtest on an error or on more than
// limit results.
func (s *session) search(text string, limit int) []directory.Card {
	s.t.Helper()
	ctx, cancel := s.callContext()
	defer cancel()
	got, err := s.h.Directory.Search(ctx, text, limit)
	if err != nil {
		s.t.Fatalf("Search(%q, %d): %v", text, limit, err)
	}
	if len(got) > limit {
		s.t.Errorf("Search(%q, %d) returned %d cards", text, limit, len(got))
	}
	return got
}

// expectSearch checks that Search(text, limit) returns want, in order.
func (s *session) expectSearch(text string, limit int, want []directory.Card) {
	s.t.Helper()
	if diff := cmp.Diff(want, s.search(text, limit), cmpopts.EquateEmpty()); diff != "" {
		s.t.Errorf("Search(%q, %d) (-want +got):\n%s", text, limit, diff)
	}
}
