// Package directorytest is the conformance suite of the directory contract
// (package directory), and Fake, an in-memory Directory that passes it.
// Every implementation runs the suite from its own tests, with a Harness
// that knows how to put users into its directory:
//
//	func TestConformance(t *testing.T) {
//		srv := slapdtest.Start(t, slapdtest.Options{})
//		directorytest.Run(t, func(t *testing.T) directorytest.Harness { ... })
//	}
//
// Each subtest adds the users it relies on, named with a token unique to
// the subtest and to the call of Run, so that subtests (and several runs)
// may share one server. Searches look for those tokens; a result that
// belongs to another subtest is only accepted where the contract allows it
// (a hostile search text matched literally).
package directorytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/presenced/presenced/internal/directory"
)

// DefaultTimeout is the Harness Timeout used when it is zero.
const DefaultTimeout = 10 * time.Second

// Domain is the mail domain of the suite's users.
const Domain = "example.com"

// User is a directory entry the suite asks a Harness to add. Empty fields
// are absent from the entry.
type User struct {
	Mail string
	// ProxyAddresses are stored as given, with their type prefix:
	// "SMTP:" for the primary address, "smtp:" for others, and other types
	// ("SIP:", "X500:") that Lookup must not match.
	ProxyAddresses  []string
	DisplayName     string
	GivenName       string
	SN              string
	Title           string
	TelephoneNumber string
	Mobile          string
	// SAMAccountName is always set by the suite; it may name the entry.
	SAMAccountName string
	// Address is the presence address, stored in the attribute the
	// implementation under test reads it from.
	Address string
	// Enabled is msRTCSIP-UserEnabled, TRUE or FALSE; nil leaves it out.
	Enabled *bool
}

// Entry returns what Lookup should return for u.
func (u User) Entry() directory.Entry {
	return directory.Entry{Card: u.Card(), Address: u.Address, Enabled: u.Enabled == nil || *u.Enabled}
}

// Card returns the contact card of u.
func (u User) Card() directory.Card {
	return directory.Card{
		Mail:            u.Mail,
		DisplayName:     u.DisplayName,
		GivenName:       u.GivenName,
		SN:              u.SN,
		Title:           u.Title,
		TelephoneNumber: u.TelephoneNumber,
		Mobile:          u.Mobile,
		SAMAccountName:  u.SAMAccountName,
	}
}

// Harness is one Directory under test, made for each subtest.
type Harness struct {
	// Directory is the implementation under test, ready to serve.
	Directory directory.Directory
	// AddUsers adds users to the directory; once it returns, Lookup and
	// Search see them.
	AddUsers func(ctx context.Context, users []User) error
	// Timeout bounds each call into the Directory or the harness. Zero
	// means DefaultTimeout.
	Timeout time.Duration
}

// Run runs the conformance suite, one subtest per behaviour, each with a
// new Harness from newHarness (which may register cleanups on the
// subtest's t).
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*session)
	}{
		{"LookupByMail", testLookupByMail},
		{"LookupByProxyAddress", testLookupByProxy},
		{"LookupUnknown", testLookupUnknown},
		{"Enabled", testEnabled},
		{"NoAddress", testNoAddress},
		{"LookupMalformed", testLookupMalformed},
		{"SearchByDisplayName", testSearchDisplayName},
		{"SearchByMailPrefix", testSearchMail},
		{"SearchByAccountName", testSearchAccount},
		{"SearchLimitAndOrder", testSearchLimit},
		{"SearchHostileText", testSearchHostile},
		{"SearchEmpty", testSearchEmpty},
		{"HealthChecker", testHealthChecker},
	}
	run := randomToken()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			switch {
			case h.Directory == nil:
				t.Fatal("harness has no Directory")
			case h.AddUsers == nil:
				t.Fatal("harness has no AddUsers")
			}
			if h.Timeout <= 0 {
				h.Timeout = DefaultTimeout
			}
			tt.run(&session{t: t, h: h, tok: fmt.Sprintf("%s%02d", run, i)})
		})
	}
}

// randomToken returns 6 lower-case hex digits, unique enough to keep the
// users of two runs against one server apart.
func randomToken() string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

func ptr[T any](v T) *T { return &v }

// testLookupByMail: Lookup by mail, in any case, returns the whole entry.
func testLookupByMail(s *session) {
	u := s.user("a")
	u.GivenName, u.SN, u.Title = "Alice", "Example", "Head of Presence"
	u.TelephoneNumber, u.Mobile = "+1 555 0100", "+1 555 0199"
	u.Address, u.Enabled = "sip:"+u.Mail, ptr(true)
	s.add(u)
	for _, email := range []string{u.Mail, strings.ToUpper(u.Mail), "M" + u.Mail[1:]} {
		s.expectLookup(email, u.Entry())
	}
}

// testLookupByProxy: Lookup finds an entry by an smtp: proxy address,
// whichever the case of the prefix (AD's primary is SMTP:) or of the
// address, but not by a proxy address of another type.
func testLookupByProxy(s *session) {
	a, b := s.user("a"), s.user("b")
	alias, primary, sip := "alias"+s.tok+"@"+Domain, "primary"+s.tok+"@"+Domain, "sipproxy"+s.tok+"@"+Domain
	a.ProxyAddresses = []string{"SMTP:" + a.Mail, "smtp:" + alias, "SIP:" + sip}
	a.Address = "sip:" + a.Mail
	b.ProxyAddresses = []string{"SMTP:" + primary}
	b.Address = "xmpp:" + b.Mail
	s.add(a, b)
	s.expectLookup(alias, a.Entry())
	s.expectLookup(strings.ToUpper(alias), a.Entry())
	s.expectLookup(primary, b.Entry())
	s.expectLookupErr(sip, directory.ErrNotFound)
}

// testLookupUnknown: an email nobody has is ErrNotFound, also when it is
// a substring of one somebody has.
func testLookupUnknown(s *session) {
	u := s.user("a")
	s.add(u)
	s.expectLookupErr("nobody"+s.tok+"@"+Domain, directory.ErrNotFound)
	s.expectLookupErr(u.Mail[1:], directory.ErrNotFound)
	s.expectLookupErr(u.Mail[:strings.IndexByte(u.Mail, '@')]+"@emea."+Domain, directory.ErrNotFound)
}

// testEnabled: Enabled is false only when the entry says FALSE.
func testEnabled(s *session) {
	off, on, unset := s.user("off"), s.user("on"), s.user("unset")
	off.Enabled, on.Enabled = ptr(false), ptr(true)
	for _, u := range []*User{&off, &on, &unset} {
		u.Address = "sip:" + u.Mail
	}
	s.add(off, on, unset)
	for _, c := range []struct {
		u    User
		want bool
	}{{off, false}, {on, true}, {unset, true}} {
		got := s.lookup(c.u.Mail)
		if got.Enabled != c.want {
			s.t.Errorf("Lookup(%s).Enabled = %v, want %v (msRTCSIP-UserEnabled %s)", c.u.Mail, got.Enabled, c.want, boolText(c.u.Enabled))
		}
	}
}

func boolText(b *bool) string {
	switch {
	case b == nil:
		return "absent"
	case *b:
		return "TRUE"
	}
	return "FALSE"
}

// testNoAddress: an entry without a presence address has an empty
// Address.
func testNoAddress(s *session) {
	u := s.user("a")
	u.Enabled = ptr(true)
	s.add(u)
	s.expectLookup(u.Mail, u.Entry())
}

// testLookupMalformed: what is not a bare addr-spec is ErrInvalid, never
// a query.
func testLookupMalformed(s *session) {
	s.add(s.user("a"))
	for _, email := range []string{
		"",
		"alice",
		"@" + Domain,
		"alice@",
		"alice@bob@" + Domain,
		"alice " + s.tok + "@" + Domain,
		"Alice <alice" + s.tok + "@" + Domain + ">",
		"alice" + s.tok + "@" + Domain + "\x00",
		"m" + s.tok + "a@" + Domain + ")(mail=*",
	} {
		s.expectLookupErr(email, directory.ErrInvalid)
	}
}

// searchUsers adds users a..e whose mail, account and display name each
// carry the token behind a prefix of their own ("m", "s", "dn"), so that
// a search can aim at one attribute. They are added out of mail order.
func (s *session) searchUsers() []User {
	var users []User
	for _, l := range []string{"c", "a", "e", "b", "d"} {
		u := s.user(l)
		u.GivenName, u.SN = "Given", "Surname"
		users = append(users, u)
	}
	s.add(users...)
	slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.Mail, b.Mail) })
	return users
}

// cards returns the cards of users.
func cards(users ...User) []directory.Card {
	var out []directory.Card
	for _, u := range users {
		out = append(out, u.Card())
	}
	return out
}

// testSearchDisplayName: a display-name substring, in any case, finds the
// entries that have it.
func testSearchDisplayName(s *session) {
	users := s.searchUsers()
	s.expectSearch("dn"+s.tok, 10, cards(users...))
	s.expectSearch("DN"+strings.ToUpper(s.tok)+"B PERS", 10, cards(users[1]))
	s.expectSearch("n"+s.tok+"c Per", 10, cards(users[2]))
}

// testSearchMail: a mail prefix finds the entries that have it.
func testSearchMail(s *session) {
	users := s.searchUsers()
	s.expectSearch("m"+s.tok, 10, cards(users...))
	s.expectSearch("m"+s.tok+"d@", 10, cards(users[3]))
	s.expectSearch(strings.ToUpper(users[4].Mail), 10, cards(users[4]))
}

// testSearchAccount: an account name, or a part of it, finds the entry.
func testSearchAccount(s *session) {
	users := s.searchUsers()
	s.expectSearch("s"+s.tok, 10, cards(users...))
	s.expectSearch(users[0].SAMAccountName, 10, cards(users[0]))
	s.expectSearch(strings.ToUpper(users[2].SAMAccountName), 10, cards(users[2]))
}

// testSearchLimit: Search returns the first limit matches by mail.
func testSearchLimit(s *session) {
	users := s.searchUsers()
	for _, limit := range []int{1, 2, 4, 5} {
		s.expectSearch("dn"+s.tok, limit, cards(users[:limit]...))
	}
}

// hostile are search texts that a filter built without escaping would
// turn into wildcards, broken filters or extra clauses.
var hostile = []string{"*", "(", ")", `\`, "\x00", "*)(mail=*", "admin)(|(objectClass=*", `\2a`, "*" + "*"}

// testSearchHostile: filter metacharacters are plain text. Each hostile
// text is searched bare, after the token and around it; every result must
// contain the text literally, and the entries that do are found.
func testSearchHostile(s *session) {
	plain := s.user("plain")
	users := []User{plain}
	for i, h := range hostile {
		if strings.ContainsRune(h, 0) {
			continue // directories cannot store NUL; searched all the same
		}
		u := s.user(fmt.Sprintf("h%d", i))
		u.DisplayName = "Hostile" + s.tok + h + "z"
		users = append(users, u)
	}
	s.add(users...)
	for _, h := range hostile {
		for _, text := range []string{h, s.tok + h, h + s.tok} {
			got := s.search(text, 1000)
			var want []User
			for _, r := range got {
				if !matches(r, text) {
					s.t.Errorf("Search(%q) returned %+v, which does not contain the text", text, r)
				}
			}
			for _, u := range users {
				if matches(u.Card(), text) {
					want = append(want, u)
				}
			}
			if !strings.Contains(text, s.tok) {
				continue // other subtests' entries may match; checked above
			}
			if diff := cmp.Diff(cards(sortByMail(want)...), got, cmpopts.EquateEmpty()); diff != "" {
				s.t.Errorf("Search(%q) (-want +got):\n%s", text, diff)
			}
		}
	}
}

func sortByMail(users []User) []User {
	slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.Mail, b.Mail) })
	return users
}

// matches reports whether c contains text, case-insensitively, in a name,
// its mail or its account name: what the contract lets Search match.
func matches(c directory.Card, text string) bool {
	text = strings.ToLower(text)
	for _, f := range []string{c.DisplayName, c.GivenName, c.SN, c.Mail, c.SAMAccountName} {
		if strings.Contains(strings.ToLower(f), text) {
			return true
		}
	}
	return false
}

// testSearchEmpty: an empty search is ErrInvalid.
func testSearchEmpty(s *session) {
	s.add(s.user("a"))
	ctx, cancel := s.callContext()
	defer cancel()
	got, err := s.h.Directory.Search(ctx, "", 10)
	if !errors.Is(err, directory.ErrInvalid) {
		s.t.Errorf("Search(\"\") = %+v, %v; want ErrInvalid", got, err)
	}
}

// testHealthChecker: a serving directory is healthy.
func testHealthChecker(s *session) {
	hc, ok := s.h.Directory.(directory.HealthChecker)
	if !ok {
		s.t.Skip("directory is not a HealthChecker")
	}
	u := s.user("a")
	s.add(u)
	s.lookup(u.Mail) // serving
	ctx, cancel := s.callContext()
	defer cancel()
	if err := hc.Healthy(ctx); err != nil {
		s.t.Errorf("Healthy while serving = %v, want nil", err)
	}
}
