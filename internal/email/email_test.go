package email

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"bob@example.com", "bob@example.com", true},
		{"  Bob.Smith+tag@Example.COM ", "bob.smith+tag@example.com", true},
		{"o'neil@x.io", "o'neil@x.io", true},
		{"", "", false},
		{"bob", "", false},
		{"@example.com", "", false},
		{"bob@", "", false},
		{"bo b@example.com", "", false},
		{"bob@exa_mple.com", "", false},
		{"<bob>@example.com", "", false},
		{"bob@@example.com", "", false},
		{"b\x00b@example.com", "", false},
		{strings.Repeat("a", 65) + "@example.com", "", false},
		{"a@" + strings.Repeat("b", 250) + ".com", "", false},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Normalize(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
	if d := Domain("a@b.example.com"); d != "b.example.com" {
		t.Errorf("Domain = %q", d)
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("bob@example.com")
	f.Add("@@..")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalize(s)
		if err != nil {
			return
		}
		if again, err := Normalize(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, got, again, err)
		}
	})
}
