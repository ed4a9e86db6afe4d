package adminauth

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParsePHC checks that the parser never panics, that what it accepts
// is within the limits, and that it accepts only canonical strings: the
// parsed value prints back to exactly the input.
func FuzzParsePHC(f *testing.F) {
	for _, s := range []string{
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=064,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$$$$$",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			return
		}
		if err := p.Params.validate(); err != nil {
			t.Fatalf("parsePHC(%q) accepted invalid params: %v", s, err)
		}
		if got := p.String(); got != s {
			t.Fatalf("parsePHC(%q) prints back as %q", s, got)
		}
		again, err := parsePHC(p.String())
		if err != nil {
			t.Fatalf("reparse of %q: %v", p.String(), err)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("reparse differs (-first +second):\n%s", diff)
		}
	})
}
