package directorytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/internal/directory"
)

func TestFakeConformance(t *testing.T) {
	f := NewFake() // shared by every subtest, as a real server would be
	Run(t, func(t *testing.T) Harness {
		return Harness{Directory: f, AddUsers: f.AddUsers}
	})
}

func TestFakeFreshPerSubtest(t *testing.T) {
	Run(t, func(t *testing.T) Harness {
		f := NewFake()
		return Harness{Directory: f, AddUsers: f.AddUsers}
	})
}

func TestFakeFail(t *testing.T) {
	u := User{Mail: "alice@example.com", SAMAccountName: "alice"}
	f := NewFake(u)
	down := fmt.Errorf("dial: %w", directory.ErrUnavailable)
	ctx := context.Background()
	f.Fail(down)
	if _, err := f.Lookup(ctx, u.Mail); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Lookup while failing = %v, want ErrUnavailable", err)
	}
	if _, err := f.Search(ctx, "alice", 1); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Search while failing = %v, want ErrUnavailable", err)
	}
	if err := f.Healthy(ctx); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Healthy while failing = %v, want ErrUnavailable", err)
	}
	f.Fail(nil)
	got, err := f.Lookup(ctx, u.Mail)
	if err != nil {
		t.Fatalf("Lookup after recovery: %v", err)
	}
	if diff := cmp.Diff(u.Entry(), got); diff != "" {
		t.Errorf("Lookup after recovery (-want +got):\n%s", diff)
	}
	if n := f.Lookups(); n != 2 {
		t.Errorf("Lookups() = %d, want 2", n)
	}
}

func TestFakeAddUsersConflict(t *testing.T) {
	tests := []struct {
		name  string
		users []User
	}{
		{"no mail", []User{{SAMAccountName: "x"}}},
		{"same mail", []User{{Mail: "a@example.com"}, {Mail: "A@example.com"}}},
		{"proxy is a mail", []User{{Mail: "a@example.com"}, {Mail: "b@example.com", ProxyAddresses: []string{"smtp:a@example.com"}}}},
		{"existing", []User{{Mail: "old@example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFake(User{Mail: "old@example.com"})
			if err := f.AddUsers(context.Background(), tt.users); err == nil {
				t.Fatal("AddUsers succeeded, want an error")
			}
			if n := len(f.users); n != 1 {
				t.Errorf("after a failed AddUsers the Fake holds %d users, want 1", n)
			}
		})
	}
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"alice@example.com", true},
		{"a.b+tag@emea.example.com", true},
		{"o'neil@example.com", true},
		{"jörg@bücher.example", true},
		{"", false},
		{"alice", false},
		{"@example.com", false},
		{"alice@", false},
		{"a@b@example.com", false},
		{"a b@example.com", false},
		{"Alice <alice@example.com>", false},
		{"alice@example..com", false},
		{"alice@example.com\x00", false},
		{"alice@example.com)(mail=*", false},
		{"(alice)@example.com", false},
	}
	for _, tt := range tests {
		if got := ValidEmail(tt.in); got != tt.want {
			t.Errorf("ValidEmail(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFakeAuthenticate(t *testing.T) {
	const admins = "CN=Presence Admins,CN=Users,DC=example,DC=com"
	alice := User{Mail: "alice@example.com", SAMAccountName: "alice"}
	bob := User{Mail: "bob@example.com", SAMAccountName: "bob"}
	twin1 := User{Mail: "twin1@example.com", SAMAccountName: "twin"}
	twin2 := User{Mail: "twin2@example.com", SAMAccountName: "twin"}
	f := NewFake(alice, bob, twin1, twin2)
	for _, u := range []User{alice, bob, twin1, twin2} {
		f.SetPassword(u.Mail, u.SAMAccountName+"-pw")
	}
	f.SetGroup(admins, "ALICE@example.com", twin1.Mail)
	f.SetGroup("cn=staff,cn=Users,dc=example,dc=com", bob.Mail)
	aliceAccount := directory.Account{DN: "cn=alice,cn=Users,dc=example,dc=com", Mail: alice.Mail, SAMAccountName: "alice"}
	tests := []struct {
		name, login, password, group string
		want                         directory.Account
		err                          error
	}{
		{"mail", "alice@example.com", "alice-pw", admins, aliceAccount, nil},
		{"mail any case", "Alice@EXAMPLE.com", "alice-pw", admins, aliceAccount, nil},
		{"account name", "ALICE", "alice-pw", admins, aliceAccount, nil},
		{"group DN normalised", "alice", "alice-pw", "cn=presence admins, cn=users, dc=example, dc=com", aliceAccount, nil},
		{"not a member", "bob", "bob-pw", admins, directory.Account{}, directory.ErrNotMember},
		{"group that does not exist", "alice", "alice-pw", "cn=nope,dc=example,dc=com", directory.Account{}, directory.ErrNotMember},
		{"wrong password", "alice", "bob-pw", admins, directory.Account{}, directory.ErrBadCredentials},
		{"password case", "alice", "ALICE-PW", admins, directory.Account{}, directory.ErrBadCredentials},
		{"empty password", "alice", "", admins, directory.Account{}, directory.ErrBadCredentials},
		{"unknown login", "carol", "alice-pw", admins, directory.Account{}, directory.ErrBadCredentials},
		{"several entries", "twin", "twin-pw", admins, directory.Account{}, directory.ErrBadCredentials},
		{"login too long", strings.Repeat("a", directory.MaxLogin+1), "alice-pw", admins, directory.Account{}, directory.ErrBadCredentials},
		{"password too long", "alice", strings.Repeat("a", directory.MaxPassword+1), admins, directory.Account{}, directory.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Authenticate(context.Background(), tt.login, tt.password, tt.group)
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("Authenticate(%q) error = %v, want %v", tt.login, err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Authenticate(%q) (-want +got):\n%s", tt.login, diff)
			}
		})
	}

	t.Run("password removed", func(t *testing.T) {
		f.SetPassword(bob.Mail, "")
		if _, err := f.Authenticate(context.Background(), "bob", "bob-pw", "cn=staff,cn=Users,dc=example,dc=com"); !errors.Is(err, directory.ErrBadCredentials) {
			t.Errorf("Authenticate without a password = %v, want ErrBadCredentials", err)
		}
	})
	t.Run("members replaced", func(t *testing.T) {
		f.SetGroup(admins, bob.Mail)
		if _, err := f.Authenticate(context.Background(), "alice", "alice-pw", admins); !errors.Is(err, directory.ErrNotMember) {
			t.Errorf("Authenticate after SetGroup without alice = %v, want ErrNotMember", err)
		}
	})
	t.Run("failing", func(t *testing.T) {
		f.Fail(fmt.Errorf("dial: %w", directory.ErrUnavailable))
		defer f.Fail(nil)
		if _, err := f.Authenticate(context.Background(), "alice", "alice-pw", admins); !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("Authenticate while failing = %v, want ErrUnavailable", err)
		}
	})
	if got, want := f.Authentications(), len(tests)+3; got != want {
		t.Errorf("Authentications() = %d, want %d", got, want)
	}
}
