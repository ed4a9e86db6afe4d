package slapdtest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEscapeDNValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"Smith, Alice", `Smith\, Alice`},
		{" #lead", `\ #lead`},
		{"#hash", `\#hash`},
		{"trail ", `trail\ `},
		{`a+b="c"<d>;e\f`, `a\+b\=\"c\"\<d\>\;e\\f`},
		{"nul\x00", `nul\00`},
	}
	for _, tt := range tests {
		if got := escapeDNValue(tt.in); got != tt.want {
			t.Errorf("escapeDNValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDomainDN(t *testing.T) {
	got := []string{DomainDN("example.com"), DomainDN("EMEA.Example.com."), DomainDN("a,b.com")}
	want := []string{"dc=example,dc=com", "dc=emea,dc=example,dc=com", `dc=a\,b,dc=com`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLDIFAttr(t *testing.T) {
	tests := []struct{ value, want string }{
		{"plain", "a: plain\n"},
		{"", "a: \n"},
		{" lead", "a:: IGxlYWQ=\n"},
		{":colon", "a:: OmNvbG9u\n"},
		{"<angle", "a:: PGFuZ2xl\n"},
		{"trail ", "a:: dHJhaWwg\n"},
		{"Müller", "a:: TcO8bGxlcg==\n"},
		{"two\nlines", "a:: dHdvCmxpbmVz\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		ldifAttr(&b, "a", tt.value)
		if got := b.String(); got != tt.want {
			t.Errorf("ldifAttr(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}
