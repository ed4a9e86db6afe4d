package slapdtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/testserver"
)

// TestMain fails the package if a test leaves a goroutine running (the
// harness's process waiter).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bulkUsers is how many extra users the domain controller view gets, past
// its size limit.
const bulkUsers = 1100

func ptr(v bool) *bool { return &v }

// fixture is the users both views start with.
var fixture = []User{
	{
		SAMAccountName: "alice", Mail: "alice@example.com",
		ProxyAddresses: []string{"SMTP:alice@example.com", "smtp:a.smith@example.com", "sip:alice@example.com"},
		GivenName:      "Alice", SN: "Smith", DisplayName: "Alice Smith", Title: "Engineer",
		TelephoneNumber: "+1 555 0100", Mobile: "+1 555 0101",
		SIPAddress: "sip:alice@example.com", SIPEnabled: ptr(true),
		DeploymentLocator: "SRV:", XMPPAddress: "alice@xmpp.example.com",
	},
	{
		Domain: ChildDomain, SAMAccountName: "bob", Mail: "bob@emea.example.com",
		ProxyAddresses: []string{"SMTP:bob@emea.example.com"}, DisplayName: "Bob Müller",
		SIPAddress: "sip:bob@emea.example.com", SIPEnabled: ptr(false),
	},
	{SAMAccountName: "carol", Mail: "carol@example.com", DisplayName: " Carol, \"CJ\" <c> "},
}

// TestSlapd starts one slapd per view for the package (the domain
// controller view with bulkUsers more users) and checks the schema, the
// views, TLS, access control, the size limit and Restart.
func TestSlapd(t *testing.T) {
	bulk := make([]User, bulkUsers)
	for i := range bulk {
		bulk[i] = User{SAMAccountName: fmt.Sprintf("bulk%04d", i), Mail: fmt.Sprintf("bulk%04d@example.com", i)}
	}
	begin := time.Now()
	dc := Start(t, Options{Users: append(append(append([]User(nil), fixture...), bulk...), pat), Groups: groups})
	t.Logf("Start ldap view with %d users (slapadd -q): %v", len(fixture)+bulkUsers+1, time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	gc := Start(t, Options{Source: SourceGC, Users: fixture})
	t.Logf("Start gc view with %d users: %v", len(fixture), time.Since(begin).Round(time.Millisecond))

	t.Run("entry by mail", func(t *testing.T) {
		for _, srv := range []*Server{dc, gc} {
			got := search(t, srv, query{base: srv.BaseDN(""), filter: "(mail=ALICE@Example.com)", attrs: []string{"*"}})
			want := result{Entries: []entry{{
				DN: "cn=alice,cn=Users,dc=example,dc=com",
				Attrs: map[string][]string{
					"objectClass":                 {"top", "user"},
					"cn":                          {"alice"},
					"sn":                          {"Smith"},
					"sAMAccountName":              {"alice"},
					"mail":                        {"alice@example.com"},
					"givenName":                   {"Alice"},
					"displayName":                 {"Alice Smith"},
					"title":                       {"Engineer"},
					"telephoneNumber":             {"+1 555 0100"},
					"mobile":                      {"+1 555 0101"},
					"msRTCSIP-PrimaryUserAddress": {"sip:alice@example.com"},
					"msRTCSIP-DeploymentLocator":  {"SRV:"},
					"presencedXMPPAddress":        {"alice@xmpp.example.com"},
					"proxyAddresses":              {"SMTP:alice@example.com", "smtp:a.smith@example.com", "sip:alice@example.com"},
					"msRTCSIP-UserEnabled":        {"TRUE"},
				},
			}}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s view (-want +got):\n%s", srv.Source(), diff)
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			name, base, filter string
			want               []string
		}{
			{"proxyAddresses smtp", "", "(proxyAddresses=smtp:a.smith@example.com)", []string{"cn=alice,cn=Users,dc=example,dc=com"}},
			{"proxyAddresses case-insensitive", "", "(proxyAddresses=SMTP:A.Smith@EXAMPLE.COM)", []string{"cn=alice,cn=Users,dc=example,dc=com"}},
			{"proxyAddresses substring", "", "(proxyAddresses=smtp:a.smith@*)", []string{"cn=alice,cn=Users,dc=example,dc=com"}},
			{"SIP address", "", "(msRTCSIP-PrimaryUserAddress=SIP:alice@example.com)", []string{"cn=alice,cn=Users,dc=example,dc=com"}},
			{"enabled", "", "(msRTCSIP-UserEnabled=TRUE)", []string{"cn=alice,cn=Users,dc=example,dc=com"}},
			{"not enabled", ChildDomain, "(msRTCSIP-UserEnabled=FALSE)", []string{"cn=bob,cn=Users,dc=emea,dc=example,dc=com"}},
			{"no SIP attribute", "", "(&(objectClass=user)(sAMAccountName=c*)(!(msRTCSIP-UserEnabled=*)))", []string{"cn=carol,cn=Users,dc=example,dc=com"}},
			{"sAMAccountName", ChildDomain, "(sAMAccountName=BOB)", []string{"cn=bob,cn=Users,dc=emea,dc=example,dc=com"}},
			{"UTF-8 displayName", ChildDomain, "(displayName=bob müller)", []string{"cn=bob,cn=Users,dc=emea,dc=example,dc=com"}},
			{"unknown mail", "", "(mail=nobody@example.com)", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := search(t, dc, query{base: dc.BaseDN(tt.base), filter: tt.filter, attrs: []string{"1.1"}})
				if diff := cmp.Diff(result{Entries: dnEntries(tt.want)}, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("LDIF escaping", func(t *testing.T) {
		got := search(t, dc, query{base: dc.BaseDN(""), filter: "(sAMAccountName=carol)", attrs: []string{"displayName"}})
		want := result{Entries: []entry{{DN: "cn=carol,cn=Users,dc=example,dc=com",
			Attrs: map[string][]string{"displayName": {` Carol, "CJ" <c> `}}}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("views", func(t *testing.T) {
		alice, bob := "cn=alice,cn=Users,dc=example,dc=com", "cn=bob,cn=Users,dc=emea,dc=example,dc=com"
		tests := []struct {
			srv  *Server
			base string
			want []string
		}{
			{dc, dc.BaseDN(RootDomain), []string{alice}},
			{dc, dc.BaseDN(ChildDomain), []string{bob}},
			{gc, gc.BaseDN(RootDomain), []string{alice, bob}},
			{gc, gc.BaseDN(ChildDomain), []string{bob}},
			{gc, "", []string{alice, bob}}, // olcDefaultSearchBase
		}
		for _, tt := range tests {
			t.Run(tt.srv.Source()+" "+tt.base, func(t *testing.T) {
				got := search(t, tt.srv, query{base: tt.base, filter: "(|(sAMAccountName=alice)(sAMAccountName=bob))", attrs: []string{"1.1"}})
				if diff := cmp.Diff(result{Entries: dnEntries(tt.want)}, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("rootDSE", func(t *testing.T) {
		attrs := []string{"namingContexts", "defaultNamingContext", "rootDomainNamingContext", "isGlobalCatalogReady"}
		tests := []struct {
			srv  *Server
			want map[string][]string
		}{
			{dc, map[string][]string{
				"namingContexts":          {"dc=emea,dc=example,dc=com", "dc=example,dc=com"},
				"defaultNamingContext":    {"dc=example,dc=com"},
				"rootDomainNamingContext": {"dc=example,dc=com"},
				"isGlobalCatalogReady":    {"FALSE"},
			}},
			{gc, map[string][]string{
				"namingContexts":          {"dc=example,dc=com"},
				"defaultNamingContext":    {"dc=example,dc=com"},
				"rootDomainNamingContext": {"dc=example,dc=com"},
				"isGlobalCatalogReady":    {"TRUE"},
			}},
		}
		for _, tt := range tests {
			// Anonymous, as a client does before it knows where to bind.
			got := search(t, tt.srv, query{anonymous: true, base: "", scope: "base", filter: "(objectClass=*)", attrs: attrs})
			want := result{Entries: []entry{{DN: "", Attrs: tt.want}}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s view (-want +got):\n%s", tt.srv.Source(), diff)
			}
		}
	})

	t.Run("anonymous reads nothing", func(t *testing.T) {
		for _, srv := range []*Server{dc, gc} {
			got := search(t, srv, query{anonymous: true, base: srv.BaseDN(""), filter: "(mail=alice@example.com)", attrs: []string{"1.1"}})
			// The ACL hides the base entry itself, so slapd answers as if
			// it did not exist rather than disclosing it.
			if diff := cmp.Diff(result{Code: 32}, got); diff != "" {
				t.Errorf("%s view (-want +got):\n%s", srv.Source(), diff)
			}
		}
	})

	t.Run("bind", func(t *testing.T) {
		tests := []struct {
			name, dn, password string
			wantCode           int
			wantOut            string
		}{
			{"service account", dc.BindDN(), dc.BindPassword(), 0, "dn:" + dc.BindDN()},
			{"wrong password", dc.BindDN(), dc.BindPassword() + "x", 49, ""},
			{"unknown DN", "cn=nobody,cn=Users,dc=example,dc=com", "secret", 49, ""},
			{"root DN", dc.RootDN(), dc.RootPassword(), 0, "dn:" + dc.RootDN()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, code := runLDAP(t, dc, "ldapwhoami", "-x", "-H", dc.URL(), "-D", tt.dn, "-w", tt.password)
				got := struct {
					Code int
					Out  string
				}{code, strings.TrimSpace(out)}
				if code != 0 {
					got.Out = "" // ldapwhoami prints only a message
				}
				want := struct {
					Code int
					Out  string
				}{tt.wantCode, tt.wantOut}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got):\n%s\noutput: %s", diff, out)
				}
			})
		}
	})

	t.Run("passwords and groups", func(t *testing.T) {
		testPasswordsAndGroups(t, dc)
	})

	t.Run("TLS", func(t *testing.T) {
		other, err := testserver.SelfSigned("localhost")
		if err != nil {
			t.Fatal(err)
		}
		otherCA := filepath.Join(t.TempDir(), "other.crt")
		if err := os.WriteFile(otherCA, other.CertPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name     string
			url      string
			startTLS bool
			ca       string
			wantOK   bool
		}{
			{"StartTLS", dc.URL(), true, dc.CertFile(), true},
			{"LDAPS", dc.LDAPSURL(), false, dc.CertFile(), true},
			{"StartTLS other CA", dc.URL(), true, otherCA, false},
			{"LDAPS other CA", dc.LDAPSURL(), false, otherCA, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				args := []string{"-x", "-H", tt.url, "-D", dc.BindDN(), "-w", dc.BindPassword()}
				if tt.startTLS {
					args = append(args, "-ZZ") // fail unless StartTLS succeeds
				}
				cmd := ldapCmd(t, dc, "ldapwhoami", args...)
				cmd.Env = append(cmd.Env, "LDAPTLS_CACERT="+tt.ca, "LDAPTLS_REQCERT=demand")
				out, err := cmd.CombinedOutput()
				if got := err == nil; got != tt.wantOK {
					t.Errorf("succeeded = %v, want %v: %v\n%s", got, tt.wantOK, err, out)
				}
			})
		}
		// Go's own client verifies LDAPS against CAPool, by IP and by name.
		for _, name := range []string{"127.0.0.1", "localhost"} {
			conn, err := tls.Dial("tcp", dc.LDAPSAddr(), &tls.Config{RootCAs: dc.CAPool(), ServerName: name, MinVersion: tls.VersionTLS12})
			if err != nil {
				t.Fatalf("LDAPS with ServerName %s: %v", name, err)
			}
			t.Logf("LDAPS %s: TLS version %#x", name, conn.ConnectionState().Version)
			conn.Close()
		}
	})

	t.Run("size limit", func(t *testing.T) {
		q := query{base: dc.BaseDN(""), filter: "(objectClass=user)", attrs: []string{"1.1"}}
		begin := time.Now()
		got := search(t, dc, q)
		t.Logf("search past the limit: %v", time.Since(begin).Round(time.Millisecond))
		if got.Code != 4 || len(got.Entries) != DefaultSizeLimit {
			t.Errorf("search of %d users: code %d with %d entries, want 4 (Size limit exceeded) with %d",
				bulkUsers+2, got.Code, len(got.Entries), DefaultSizeLimit)
		}
		q.paged = 500
		if got := search(t, dc, q); got.Code != 0 || len(got.Entries) != bulkUsers+2 {
			t.Errorf("paged search: code %d with %d entries, want 0 with %d", got.Code, len(got.Entries), bulkUsers+2)
		}
	})

	t.Run("AddUsers and Restart", func(t *testing.T) {
		dave := User{Domain: ChildDomain, SAMAccountName: "dave", Mail: "dave@emea.example.com", SIPEnabled: ptr(true)}
		begin := time.Now()
		gc.AddUsers(t, []User{dave})
		t.Logf("AddUsers with ldapadd: %v", time.Since(begin).Round(time.Millisecond))
		begin = time.Now()
		gc.Restart(t)
		t.Logf("Restart: %v", time.Since(begin).Round(time.Millisecond))
		q := query{base: "", filter: "(|(mail=alice@example.com)(mail=dave@emea.example.com))", attrs: []string{"1.1"}}
		want := result{Entries: dnEntries([]string{"cn=alice,cn=Users,dc=example,dc=com", gc.UserDN(dave)})}
		if diff := cmp.Diff(want, search(t, gc, q)); diff != "" {
			t.Errorf("after Restart (-want +got):\n%s", diff)
		}
		// A stopped server takes users through slapadd.
		gc.Stop()
		gc.Stop() // idempotent
		erin := User{SAMAccountName: "erin", Mail: "erin@example.com"}
		gc.AddUsers(t, []User{erin})
		gc.Restart(t)
		q.filter = "(mail=erin@example.com)"
		if diff := cmp.Diff(result{Entries: dnEntries([]string{gc.UserDN(erin)})}, search(t, gc, q)); diff != "" {
			t.Errorf("user added while stopped (-want +got):\n%s", diff)
		}
	})
}

// pat has a password and a memberOf value, in the child domain (whose
// users the size limit subtest does not count); admins lists pat, and
// empty has no members, so it is not created.
var (
	patPassword = "pat's secret, 4711"
	pat         = User{Domain: ChildDomain, SAMAccountName: "pat", Mail: "pat@emea.example.com",
		UserPrincipalName: "pat@corp.example.com", Password: patPassword,
		MemberOf: []string{"CN=Ops,CN=Users,DC=emea,DC=example,DC=com"}}
	admins = Group{Domain: ChildDomain, CN: "Presence Admins", Members: []string{"pat", "nobody"}}
	empty  = Group{Domain: ChildDomain, CN: "empty"}
	groups = []Group{admins, empty}
)

// testPasswordsAndGroups checks that pat binds with its password and
// nothing else, that nobody reads userPassword, and that the service
// account reads the group that lists pat.
func testPasswordsAndGroups(t *testing.T, srv *Server) {
	patDN := srv.UserDN(pat)
	if want := "cn=pat,cn=Users,dc=emea,dc=example,dc=com"; patDN != want {
		t.Errorf("UserDN(pat) = %q, want %q", patDN, want)
	}
	adminsDN := srv.GroupDN(admins)
	if want := "cn=Presence Admins,cn=Users,dc=emea,dc=example,dc=com"; adminsDN != want {
		t.Errorf("GroupDN(admins) = %q, want %q", adminsDN, want)
	}
	for _, tt := range []struct {
		name, password string
		wantCode       int
	}{
		{"own password", patPassword, 0},
		{"wrong password", patPassword + "x", 49},
		{"service account's password", srv.BindPassword(), 49},
	} {
		t.Run("bind with "+tt.name, func(t *testing.T) {
			out, code := runLDAP(t, srv, "ldapwhoami", "-x", "-H", srv.URL(), "-D", patDN, "-w", tt.password)
			if code != tt.wantCode || (code == 0 && strings.TrimSpace(out) != "dn:"+patDN) {
				t.Errorf("ldapwhoami as pat: code %d, output %q; want code %d (dn:%s)", code, out, tt.wantCode, patDN)
			}
		})
	}
	t.Run("service account reads no password", func(t *testing.T) {
		got := search(t, srv, query{base: patDN, scope: "base", filter: "(objectClass=*)",
			attrs: []string{"userPassword", "memberOf", "userPrincipalName"}})
		want := result{Entries: []entry{{DN: patDN, Attrs: map[string][]string{
			"memberOf":          {"CN=Ops,CN=Users,DC=emea,DC=example,DC=com"},
			"userPrincipalName": {"pat@corp.example.com"},
		}}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("user reads nothing", func(t *testing.T) {
		out, code := runLDAP(t, srv, "ldapsearch", "-x", "-LLL", "-H", srv.URL(), "-D", patDN, "-w", patPassword,
			"-b", patDN, "-s", "base", "(objectClass=*)")
		if code != 32 {
			t.Errorf("ldapsearch as pat of its own entry: code %d, want 32 (No such object)\n%s", code, out)
		}
	})
	t.Run("group lists the user", func(t *testing.T) {
		// distinguishedNameMatch: the filter's DN matches in any case.
		got := search(t, srv, query{base: adminsDN, scope: "base",
			filter: "(member=CN=Pat,CN=Users,DC=EMEA,DC=example,DC=com)", attrs: []string{"objectClass", "cn", "member"}})
		want := result{Entries: []entry{{DN: adminsDN, Attrs: map[string][]string{
			"objectClass": {"top", "groupOfNames"},
			"cn":          {"Presence Admins"},
			"member":      {patDN, "cn=nobody,cn=Users,dc=emea,dc=example,dc=com"},
		}}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("memberOf matches as a DN", func(t *testing.T) {
		got := search(t, srv, query{base: srv.BaseDN(ChildDomain),
			filter: "(memberOf=cn=ops, cn=users, dc=emea, dc=example, dc=com)", attrs: []string{"1.1"}})
		if diff := cmp.Diff(result{Entries: dnEntries([]string{patDN})}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("group without members is not created", func(t *testing.T) {
		got := search(t, srv, query{base: srv.GroupDN(empty), scope: "base", filter: "(objectClass=*)", attrs: []string{"1.1"}})
		if diff := cmp.Diff(result{Code: 32}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// query is one ldapsearch.
type query struct {
	anonymous    bool // no bind; otherwise the service account
	base, filter string
	scope        string // sub unless set
	attrs        []string
	paged        int // page size of the paged-results control, 0 for none
}

// result is what a search returned: the LDAP result code and the entries,
// sorted by DN.
type result struct {
	Code    int
	Entries []entry
}

// entry is one search result entry; attribute names as slapd returns them.
type entry struct {
	DN    string
	Attrs map[string][]string
}

// dnEntries returns entries with DNs and no attributes, sorted.
func dnEntries(dns []string) []entry {
	var es []entry
	for _, dn := range dns {
		es = append(es, entry{DN: dn})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].DN < es[j].DN })
	return es
}

// search runs ldapsearch against srv's plain port and parses its LDIF.
func search(t *testing.T, srv *Server, q query) result {
	t.Helper()
	scope := q.scope
	if scope == "" {
		scope = "sub"
	}
	args := []string{"-x", "-LLL", "-o", "ldif-wrap=no", "-H", srv.URL(), "-b", q.base, "-s", scope}
	if !q.anonymous {
		args = append(args, "-D", srv.BindDN(), "-w", srv.BindPassword())
	}
	if q.paged > 0 {
		args = append(args, "-E", fmt.Sprintf("pr=%d/noprompt", q.paged))
	}
	args = append(append(args, q.filter), q.attrs...)
	out, code := runLDAP(t, srv, "ldapsearch", args...)
	entries, err := parseLDIF(out)
	if err != nil {
		t.Fatalf("ldapsearch %v: %v\n%s", args, err, out)
	}
	return result{Code: code, Entries: entries}
}

// runLDAP runs an ldap-utils program and returns its standard output and
// exit status (the LDAP result code for ldapsearch and ldapwhoami).
func runLDAP(t *testing.T, srv *Server, name string, args ...string) (string, int) {
	t.Helper()
	cmd := ldapCmd(t, srv, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), exit.ExitCode()
	default:
		t.Fatalf("%s: %v\n%s", name, err, stderr.String())
		return "", 0
	}
}

// ldapCmd prepares an ldap-utils program that ignores the machine's
// ldap.conf and ldaprc files, failing the test if ldap-utils is missing.
// (LDAPNOINIT would also make it ignore LDAPTLS_* variables.)
func ldapCmd(t *testing.T, srv *Server, name string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := lookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LDAPCONF=/dev/null", "LDAPRC=slapdtest-no-ldaprc")
	return cmd
}

// parseLDIF parses ldapsearch -LLL -o ldif-wrap=no output into entries
// sorted by DN. Attributes without values (requested as "1.1") are absent.
func parseLDIF(out string) ([]entry, error) {
	var entries []entry
	var cur *entry
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			cur = nil
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %q: no colon", line)
		}
		if strings.HasPrefix(value, ":") {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value[1:]))
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			value = string(b)
		} else {
			value = strings.TrimPrefix(value, " ")
		}
		if cur == nil {
			if name != "dn" {
				return nil, fmt.Errorf("entry starts with %q, not dn", line)
			}
			entries = append(entries, entry{DN: value})
			cur = &entries[len(entries)-1]
			continue
		}
		if cur.Attrs == nil {
			cur.Attrs = make(map[string][]string)
		}
		cur.Attrs[name] = append(cur.Attrs[name], value)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].DN < entries[j].DN })
	return entries, sc.Err()
}
