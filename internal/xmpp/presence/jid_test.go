package presence

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseJID(t *testing.T) {
	tests := []struct {
		in     string
		want   JID
		str    string
		bare   string
		wantOK bool
	}{
		{in: "juliet@example.com/balcony", want: juliet, str: "juliet@example.com/balcony", bare: "juliet@example.com", wantOK: true},
		{in: "JULIET@EXAMPLE.COM/Balcony", want: JID{"juliet", "example.com", "Balcony"}, str: "juliet@example.com/Balcony", bare: "juliet@example.com", wantOK: true},
		{in: "example.com", want: JID{Domain: "example.com"}, str: "example.com", bare: "example.com", wantOK: true},
		{in: "example.com./r", want: JID{Domain: "example.com", Resource: "r"}, str: "example.com/r", bare: "example.com", wantOK: true},
		{in: "a@b/c/d@e f", want: JID{"a", "b", "c/d@e f"}, str: "a@b/c/d@e f", bare: "a@b", wantOK: true},
		{in: "Ünïcödé@Bücher.example", want: JID{"ünïcödé", "bücher.example", ""}, str: "ünïcödé@bücher.example", bare: "ünïcödé@bücher.example", wantOK: true},
		{in: "u@[2001:DB8::1]/r", want: JID{"u", "[2001:db8::1]", "r"}, str: "u@[2001:db8::1]/r", bare: "u@[2001:db8::1]", wantOK: true},
		{in: "u@192.0.2.1", want: JID{"u", "192.0.2.1", ""}, str: "u@192.0.2.1", bare: "u@192.0.2.1", wantOK: true},
		{in: strings.Repeat("l", 1023) + "@d", want: JID{strings.Repeat("l", 1023), "d", ""}, str: strings.Repeat("l", 1023) + "@d", bare: strings.Repeat("l", 1023) + "@d", wantOK: true},

		{in: ""},
		{in: "@example.com"},
		{in: "juliet@"},
		{in: "juliet@example.com/"},
		{in: "/r"},
		{in: "a@b@c"},
		{in: "a b@c"},
		{in: "a@b c"},
		{in: "a:b@c"},
		{in: "a@b:5222"},
		{in: "a@b..c"},
		{in: ".b"},
		{in: "a@."},
		{in: "a@b/x\ty"},
		{in: "a@b/x\x00"},
		{in: "a\u00a0b@c"},
		{in: "a@[]"},
		{in: "a@[zz::1]"},
		{in: "a@b]"},
		{in: "a@\xff"},
		{in: strings.Repeat("l", 1024) + "@d"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseJID(tt.in)
			if !tt.wantOK {
				if !errors.Is(err, ErrJID) {
					t.Fatalf("ParseJID(%q) = %+v, %v; want ErrJID", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJID(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseJID(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
			if s := got.Bare().String(); s != tt.bare {
				t.Errorf("Bare().String() = %q, want %q", s, tt.bare)
			}
			again, err := ParseJID(got.String())
			if err != nil || again != got {
				t.Errorf("ParseJID(String()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestJIDZero(t *testing.T) {
	if !(JID{}).IsZero() || (JID{}).String() != "" {
		t.Errorf("zero JID: IsZero %v, String %q", (JID{}).IsZero(), (JID{}).String())
	}
	if juliet.IsZero() {
		t.Errorf("%v.IsZero() = true", juliet)
	}
}
