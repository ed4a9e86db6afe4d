package allowlist

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		name    string
		list    List
		contact string
		want    bool
	}{
		{"off allows all", List{}, "a@x.com", true},
		{"off allows even odd input", New(false, nil), "nodomain", true},
		{"on and empty allows none", New(true, nil), "a@x.com", false},
		{"on listed", New(true, []string{"x.com", "y.org"}), "a@y.org", true},
		{"on unlisted", New(true, []string{"x.com"}), "a@z.com", false},
		{"on case-insensitive", New(true, []string{"x.com"}), "a@X.Com", true},
		{"subdomain is not the domain", New(true, []string{"x.com"}), "a@sub.x.com", false},
		{"no at sign", New(true, []string{"x.com"}), "x.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.list.Allows(tt.contact); got != tt.want {
				t.Errorf("Allows(%q) = %v, want %v", tt.contact, got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		input   string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"a.com", []string{"a.com"}, false},
		{"a.com, b.com;c.com d.com\ne.com\r\nf.com\tg.com", []string{"a.com", "b.com", "c.com", "d.com", "e.com", "f.com", "g.com"}, false},
		{"B.com; a.COM; b.com", []string{"a.com", "b.com"}, false},
		{" ;; ,, \n", nil, false},
		{"example.com.", []string{"example.com"}, false},
		{"bad_domain.com, ok.com", nil, true},
		{"-a.com", nil, true},
		{"a..com", nil, true},
		{"a@b.com", nil, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.input)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v, wantErr %v", tt.input, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.input, diff)
		}
	}
}

func TestNormalizeSplitsElements(t *testing.T) {
	got, err := Normalize([]string{"a.com; b.com", "C.com"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.com", "b.com", "c.com"}, got); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([]string{"a.com", "b.com"}, New(true, got[:2]).Domains()); diff != "" {
		t.Error(diff)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("a.com, b.com;c.com d.com\ne.com")
	f.Add("-;;..@@")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Parse(in)
		if err != nil {
			return
		}
		for _, d := range got {
			if Validate(d) != nil {
				t.Fatalf("Parse returned invalid domain %q", d)
			}
		}
		again, err := Normalize(got)
		if err != nil || !cmp.Equal(got, again, cmp.Comparer(func(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b)) })) {
			t.Fatalf("not idempotent: %q -> %q (%v)", got, again, err)
		}
	})
}

func BenchmarkAllows(b *testing.B) {
	l := New(true, []string{"a.com", "b.com", "example.com", "corp.example.org"})
	b.ReportAllocs()
	for b.Loop() {
		l.Allows("someone@example.com")
	}
}
