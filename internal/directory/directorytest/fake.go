package directorytest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/directory"
)

// Fake is an in-memory Directory, HealthChecker and Authenticator that
// passes the conformance suite, for unit tests of the directory's users.
// It matches like a directory would: mail and smtp: proxy addresses
// case-insensitively, search text as a case-insensitive substring of the
// display name, given name, surname, mail or account name. Users have no
// password and there are no groups until SetPassword and SetGroup say so.
// The zero value is not usable; call NewFake.
type Fake struct {
	// mu guards the fields below.
	mu        sync.Mutex
	users     []User
	byEmail   map[string]int             // lower-case mail or smtp: proxy address -> index in users
	passwords map[string]string          // lower-case mail -> password
	groups    map[string]map[string]bool // normalised group DN -> lower-case mails of the members
	fail      error                      // returned by every call when non-nil
	lookups   int
	auths     int
}

var (
	_ directory.Directory     = (*Fake)(nil)
	_ directory.HealthChecker = (*Fake)(nil)
	_ directory.Authenticator = (*Fake)(nil)
)

// NewFake returns a Fake holding users; it panics if AddUsers would fail
// for them (a mistake in the test that calls it).
func NewFake(users ...User) *Fake {
	f := &Fake{byEmail: make(map[string]int), passwords: make(map[string]string), groups: make(map[string]map[string]bool)}
	if err := f.AddUsers(context.Background(), users); err != nil {
		panic(err)
	}
	return f
}

// AddUsers adds users, with the signature of Harness.AddUsers. A user
// whose mail or smtp: proxy address another user already has, or who has
// no mail, is an error, and then no user is added.
func (f *Fake) AddUsers(_ context.Context, users []User) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	added := make(map[string]bool)
	for _, u := range users {
		if u.Mail == "" {
			return fmt.Errorf("directorytest: add %q: no mail", u.SAMAccountName)
		}
		for _, k := range keys(u) {
			if _, dup := f.byEmail[k]; dup || added[k] {
				return fmt.Errorf("directorytest: add %s: address %s already taken", u.Mail, k)
			}
			added[k] = true
		}
	}
	for _, u := range users {
		u.ProxyAddresses = slices.Clone(u.ProxyAddresses)
		for _, k := range keys(u) {
			f.byEmail[k] = len(f.users)
		}
		f.users = append(f.users, u)
	}
	return nil
}

// keys returns the lower-case addresses Lookup finds u by.
func keys(u User) []string {
	out := []string{strings.ToLower(u.Mail)}
	for _, p := range u.ProxyAddresses {
		typ, addr, ok := strings.Cut(p, ":")
		if ok && strings.EqualFold(typ, "smtp") && !strings.EqualFold(addr, u.Mail) {
			out = append(out, strings.ToLower(addr))
		}
	}
	return out
}

// Fail makes every later call return err (which should wrap
// directory.ErrUnavailable to act like a directory that is down); nil
// makes the Fake serve again.
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// Lookups returns the number of Lookup calls so far, including failed
// ones.
func (f *Fake) Lookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// Lookup returns the entry whose mail or smtp: proxy address is email.
func (f *Fake) Lookup(ctx context.Context, email string) (directory.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if err := f.check(ctx); err != nil {
		return directory.Entry{}, fmt.Errorf("lookup %q: %w", email, err)
	}
	if !ValidEmail(email) {
		return directory.Entry{}, fmt.Errorf("lookup %q: %w", email, directory.ErrInvalid)
	}
	i, ok := f.byEmail[strings.ToLower(email)]
	if !ok {
		return directory.Entry{}, fmt.Errorf("lookup %s: %w", email, directory.ErrNotFound)
	}
	return f.users[i].Entry(), nil
}

// Search returns the first limit cards by mail that contain text.
func (f *Fake) Search(ctx context.Context, text string, limit int) ([]directory.Card, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return nil, fmt.Errorf("search %q: %w", text, err)
	}
	if text == "" || limit < 1 {
		return nil, fmt.Errorf("search %q limit %d: %w", text, limit, directory.ErrInvalid)
	}
	var out []directory.Card
	for _, u := range f.users {
		if c := u.Card(); matches(c, text) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b directory.Card) int { return strings.Compare(a.Mail, b.Mail) })
	return out[:min(limit, len(out))], nil
}

// Healthy returns the error set with Fail, if any.
func (f *Fake) Healthy(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.check(ctx)
}

// FakeBaseDN is the naming context of the Fake's user DNs (UserDN).
const FakeBaseDN = "dc=example,dc=com"

// UserDN returns the DN the Fake gives u in an Account:
// cn=SAMACCOUNTNAME,cn=Users,FakeBaseDN (the mail when u has no account
// name), unescaped.
func (f *Fake) UserDN(u User) string {
	return "cn=" + cmp.Or(u.SAMAccountName, u.Mail) + ",cn=Users," + FakeBaseDN
}

// SetPassword sets the password Authenticate accepts for the user whose
// mail is mail (compared case-insensitively; the user may be added
// later); "" removes it, and then no password is accepted.
func (f *Fake) SetPassword(mail, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if password == "" {
		delete(f.passwords, strings.ToLower(mail))
		return
	}
	f.passwords[strings.ToLower(mail)] = password
}

// SetGroup makes the group with DN group exist with the users whose mails
// are given as its members, replacing any members it had. Group DNs are
// compared as normaliseDN does.
func (f *Fake) SetGroup(group string, mails ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	members := make(map[string]bool, len(mails))
	for _, m := range mails {
		members[strings.ToLower(m)] = true
	}
	f.groups[normaliseDN(group)] = members
}

// Authentications returns the number of Authenticate calls so far,
// including refused and failed ones.
func (f *Fake) Authentications() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.auths
}

// Authenticate implements directory.Authenticator on the users (by mail or
// account name, case-insensitively; the Fake has no userPrincipalName),
// their passwords from SetPassword and the groups from SetGroup. A group
// never set does not exist, so nobody is its member.
func (f *Fake) Authenticate(ctx context.Context, login, password, group string) (directory.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auths++
	if err := f.check(ctx); err != nil {
		return directory.Account{}, fmt.Errorf("authenticate: %w", err)
	}
	if login == "" || password == "" || len(login) > directory.MaxLogin || len(password) > directory.MaxPassword {
		return directory.Account{}, fmt.Errorf("authenticate: %w", directory.ErrBadCredentials)
	}
	var found []User
	for _, u := range f.users {
		if strings.EqualFold(u.Mail, login) || (u.SAMAccountName != "" && strings.EqualFold(u.SAMAccountName, login)) {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		return directory.Account{}, fmt.Errorf("authenticate: %d entries have the login: %w", len(found), directory.ErrBadCredentials)
	}
	u := found[0]
	key := strings.ToLower(u.Mail)
	if want, ok := f.passwords[key]; !ok || want != password {
		return directory.Account{}, fmt.Errorf("authenticate: wrong password: %w", directory.ErrBadCredentials)
	}
	if !f.groups[normaliseDN(group)][key] {
		return directory.Account{}, fmt.Errorf("authenticate %s: %w", u.Mail, directory.ErrNotMember)
	}
	return directory.Account{DN: f.UserDN(u), Mail: u.Mail, SAMAccountName: u.SAMAccountName}, nil
}

// normaliseDN returns dn lower-cased without spaces around its ',', '+' and
// '=' separators, so that "CN=Admins, DC=Example" and "cn=admins,dc=example"
// are one group. It knows no escapes: enough for a Fake.
func normaliseDN(dn string) string {
	var b strings.Builder
	for i, part := range strings.FieldsFunc(strings.ToLower(dn), func(r rune) bool { return r == ',' }) {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, ava := range strings.Split(part, "+") {
			if j > 0 {
				b.WriteByte('+')
			}
			typ, value, _ := strings.Cut(ava, "=")
			b.WriteString(strings.TrimSpace(typ) + "=" + strings.TrimSpace(value))
		}
	}
	return b.String()
}

// check returns why a call cannot be served. f.mu is held.
func (f *Fake) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", directory.ErrUnavailable, err)
	}
	return f.fail
}

// ValidEmail reports whether s is a bare addr-spec the suite expects a
// Directory to accept: one "@" between a non-empty local part of RFC 5322
// atext and dots (or non-ASCII, RFC 6531) and a domain of non-empty
// labels of letters, digits and hyphens (or non-ASCII). Anything else
// (spaces, display names, filter metacharacters in the domain, control
// characters) is what Lookup must refuse with ErrInvalid.
func ValidEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return false
	}
	for _, r := range local {
		if r < 0x80 && !isAtext(r) && r != '.' {
			return false
		}
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" {
			return false
		}
		for _, r := range label {
			if r < 0x80 && !isLetterDigit(r) && r != '-' {
				return false
			}
		}
	}
	return true
}

func isLetterDigit(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

// isAtext reports whether r is an RFC 5322 atext character.
func isAtext(r rune) bool {
	return isLetterDigit(r) || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}
