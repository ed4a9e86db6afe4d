package directorytest

import (
	"context"
	"errors"
	"fmt"
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
