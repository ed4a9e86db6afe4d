package ldap

import (
	"log/slog"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
)

func TestBaseDN(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"example.com", "DC=example,DC=com", true},
		{"emea.example.com.", "DC=emea,DC=example,DC=com", true},
		{"DC=EXAMPLE,DC=COM", "DC=EXAMPLE,DC=COM", true},
		{" dc=emea,dc=example,dc=com ", "dc=emea,dc=example,dc=com", true},
		{"OU=People,DC=example,DC=com", "OU=People,DC=example,DC=com", true},
		{"example..com", "", false},
		{"exa_mple.com", "", false},
		{"-example.com", "", false},
		{"DC=example,,DC=com", "", false},
		{"corp", "DC=corp", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := BaseDN(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("BaseDN(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("BaseDN(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		raw, source string
		want        Server
		ok          bool
	}{
		{"dc1.example.com", SourceLDAP, Server{URL: "ldap://dc1.example.com:389", Addr: "dc1.example.com:389", Host: "dc1.example.com"}, true},
		{"dc1.example.com", SourceGC, Server{URL: "ldap://dc1.example.com:3268", Addr: "dc1.example.com:3268", Host: "dc1.example.com"}, true},
		{"ldaps://dc1.example.com", SourceLDAP, Server{URL: "ldaps://dc1.example.com:636", Addr: "dc1.example.com:636", Host: "dc1.example.com", TLS: true}, true},
		{"ldaps://dc1.example.com/", SourceGC, Server{URL: "ldaps://dc1.example.com:3269", Addr: "dc1.example.com:3269", Host: "dc1.example.com", TLS: true}, true},
		{"127.0.0.1:1389", SourceLDAP, Server{URL: "ldap://127.0.0.1:1389", Addr: "127.0.0.1:1389", Host: "127.0.0.1"}, true},
		{"ldap://[::1]:1389", SourceLDAP, Server{URL: "ldap://[::1]:1389", Addr: "[::1]:1389", Host: "::1"}, true},
		{"http://dc1", SourceLDAP, Server{}, false},
		{"ldap://dc1/dc=example", SourceLDAP, Server{}, false},
		{"ldap://dc1:99999", SourceLDAP, Server{}, false},
		{"ldap://user:pw@dc1", SourceLDAP, Server{}, false},
		{"ldap://", SourceLDAP, Server{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.raw+"/"+tt.source, func(t *testing.T) {
			got, err := ParseURL(tt.raw, tt.source)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseURL(%q) error = %v, want ok %v", tt.raw, err, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseURL(%q) (-want +got):\n%s", tt.raw, diff)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	a := DefaultAttributes
	obj := DefaultObjectFilter
	tests := []struct {
		name, got, want string
	}{
		{"lookup", lookupFilter(obj, a, "alice@example.com"),
			"(&(objectClass=user)(|(mail=alice@example.com)(proxyAddresses=smtp:alice@example.com)))"},
		{"lookup escaped", lookupFilter(obj, a, "a*)(mail=*@x"),
			`(&(objectClass=user)(|(mail=a\2a\29\28mail=\2a@x)(proxyAddresses=smtp:a\2a\29\28mail=\2a@x)))`},
		{"search", searchFilter(obj, a, "ali"),
			"(&(objectClass=user)(|(displayName=*ali*)(mail=ali*)(sAMAccountName=ali*)(givenName=ali*)(sn=ali*)))"},
		{"search hostile", searchFilter(obj, a, "*)(mail=*"),
			`(&(objectClass=user)(|(displayName=*\2a\29\28mail=\2a*)(mail=\2a\29\28mail=\2a*)(sAMAccountName=\2a\29\28mail=\2a*)(givenName=\2a\29\28mail=\2a*)(sn=\2a\29\28mail=\2a*)))`},
		{"search NUL backslash utf8", searchFilter("(objectClass=person)", Attributes{Mail: "m", DisplayName: "d", SAMAccountName: "s", GivenName: "g", SN: "n"}, "\x00\\é"),
			`(&(objectClass=person)(|(d=*\00\5c\c3\a9*)(m=\00\5c\c3\a9*)(s=\00\5c\c3\a9*)(g=\00\5c\c3\a9*)(n=\00\5c\c3\a9*)))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("filter\n got %s\nwant %s", tt.got, tt.want)
			}
			if _, err := goldap.CompileFilter(tt.got); err != nil {
				t.Errorf("CompileFilter(%s): %v", tt.got, err)
			}
		})
	}
}

// FuzzFilters checks that any input yields a filter that parses and in
// which the input's metacharacters appear only escaped.
func FuzzFilters(f *testing.F) {
	for _, s := range []string{"alice", "*)(mail=*", `\`, "(", ")", "\x00", "é", "a*b", `\2a`} {
		f.Add(s)
	}
	a := DefaultAttributes
	f.Fuzz(func(t *testing.T, in string) {
		escaped := goldap.EscapeFilter(in)
		if strings.ContainsAny(escaped, "()*\x00") {
			t.Fatalf("EscapeFilter(%q) = %q keeps a metacharacter", in, escaped)
		}
		for i := 0; i < len(escaped); i++ {
			if escaped[i] == '\\' && !(i+2 < len(escaped) && isHex(escaped[i+1]) && isHex(escaped[i+2])) {
				t.Fatalf("EscapeFilter(%q) = %q has a backslash that is not an escape", in, escaped)
			}
		}
		for _, filter := range []string{
			lookupFilter(DefaultObjectFilter, a, in),
			searchFilter(DefaultObjectFilter, a, in),
		} {
			p, err := goldap.CompileFilter(filter)
			if err != nil {
				t.Fatalf("CompileFilter(%q) for input %q: %v", filter, in, err)
			}
			if _, err := goldap.DecompileFilter(p); err != nil {
				t.Fatalf("DecompileFilter for input %q: %v", in, err)
			}
		}
		want := "(&(objectClass=user)(|(mail=" + escaped + ")(proxyAddresses=smtp:" + escaped + ")))"
		if got := lookupFilter(DefaultObjectFilter, a, in); got != want {
			t.Fatalf("lookupFilter(%q) = %q, want %q", in, got, want)
		}
	})
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

func TestConfigLogValueHidesPassword(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	cfg := Config{URLs: []string{"ldaps://dc1"}, BindDN: "cn=svc", BindPassword: "hunter2-secret"}
	log.Info("directory", "config", cfg)
	if out := buf.String(); strings.Contains(out, "hunter2-secret") || !strings.Contains(out, `"bind_password_set":true`) {
		t.Errorf("logged config %s shows the password or not that it is set", out)
	}
}
