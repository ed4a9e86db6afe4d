package slapdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// AddUsers adds users, each at UserDN(u). While slapd runs it calls
// ldapadd as RootDN (one process for all users); while it is stopped it
// loads them with slapadd, which is much faster for thousands. A user that
// already exists, or an invalid one, fails the test.
func (s *Server) AddUsers(tb testing.TB, users []User) {
	tb.Helper()
	if !s.running() {
		if err := s.slapadd(users); err != nil {
			tb.Fatal(err)
		}
		return
	}
	ldif, err := s.usersLDIF(users)
	if err != nil {
		tb.Fatal(err)
	}
	var all strings.Builder
	for _, dom := range domains() {
		all.WriteString(ldif[dom])
	}
	if err := s.ldapTool("ldapadd", s.RootDN(), all.String()); err != nil {
		tb.Fatalf("%v\n--- slapd output ---\n%s", err, s.LogTail(20))
	}
}

// usersLDIF returns the add records of users, by domain.
func (s *Server) usersLDIF(users []User) (map[string]string, error) {
	byDomain := make(map[string]*strings.Builder)
	for i, u := range users {
		if u.Domain == "" {
			u.Domain = RootDomain
		}
		if u.Domain != RootDomain && u.Domain != ChildDomain {
			return nil, fmt.Errorf("slapdtest: user %d (%q): domain %q is neither %q nor %q",
				i, u.SAMAccountName, u.Domain, RootDomain, ChildDomain)
		}
		if u.SAMAccountName == "" {
			return nil, fmt.Errorf("slapdtest: user %d: empty SAMAccountName", i)
		}
		b := byDomain[u.Domain]
		if b == nil {
			b = new(strings.Builder)
			byDomain[u.Domain] = b
		}
		userLDIF(b, s.UserDN(u), u, s.opts.XMPPAttribute)
	}
	out := make(map[string]string, len(byDomain))
	for dom, b := range byDomain {
		out[dom] = b.String()
	}
	return out, nil
}

// groupsLDIF returns the add records of groups, by domain, leaving out
// groups without members.
func (s *Server) groupsLDIF(groups []Group) (map[string]string, error) {
	byDomain := make(map[string]*strings.Builder)
	for i, g := range groups {
		if g.Domain == "" {
			g.Domain = RootDomain
		}
		if g.Domain != RootDomain && g.Domain != ChildDomain {
			return nil, fmt.Errorf("slapdtest: group %d (%q): domain %q is neither %q nor %q",
				i, g.CN, g.Domain, RootDomain, ChildDomain)
		}
		if g.CN == "" {
			return nil, fmt.Errorf("slapdtest: group %d: empty CN", i)
		}
		if len(g.Members) == 0 {
			continue // groupOfNames requires a member
		}
		b := byDomain[g.Domain]
		if b == nil {
			b = new(strings.Builder)
			byDomain[g.Domain] = b
		}
		groupLDIF(b, s.GroupDN(g), g, s.BaseDN(g.Domain))
	}
	out := make(map[string]string, len(byDomain))
	for dom, b := range byDomain {
		out[dom] = b.String()
	}
	return out, nil
}

// slapadd loads users into the stopped server's databases.
func (s *Server) slapadd(users []User) error {
	ldif, err := s.usersLDIF(users)
	if err != nil {
		return err
	}
	return s.slapaddDomains(ldif)
}

// slapaddDomains loads the LDIF records of each domain into its database
// of the stopped server.
func (s *Server) slapaddDomains(ldif map[string]string) error {
	for _, dom := range domains() {
		if ldif[dom] == "" {
			continue
		}
		if err := s.slapaddLDIF(dom, []byte(ldif[dom])); err != nil {
			return err
		}
	}
	return nil
}

// slapaddLDIF loads the LDIF records into domain's database with
// `slapadd -F DIR -b BASE -g -q`: -g keeps a glued superior from taking
// its subordinate's entries, -q skips consistency checks (the records are
// ours and in order, parents first).
func (s *Server) slapaddLDIF(domain string, ldif []byte) error {
	f, err := os.CreateTemp(s.dir, "add-*.ldif")
	if err != nil {
		return fmt.Errorf("slapdtest: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(ldif); err != nil {
		f.Close()
		return fmt.Errorf("slapdtest: write LDIF: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("slapdtest: write LDIF: %w", err)
	}
	restore, err := s.hideRootDSE()
	if err != nil {
		return err
	}
	defer restore()
	if err := s.runTool("slapadd", "-F", s.confDir, "-b", DomainDN(domain), "-g", "-q", "-l", f.Name()); err != nil {
		return fmt.Errorf("slapdtest: load %s: %w", domain, err)
	}
	return nil
}

// hideRootDSE empties rootdse.ldif (to a bare "dn:") until restore is
// called. slapadd reads the olcRootDSE file along with the cn=config entry,
// before cn=schema defines defaultNamingContext, and refuses to run; slapd
// itself starts fine with the full file.
func (s *Server) hideRootDSE() (restore func(), err error) {
	path := filepath.Join(s.dir, "rootdse.ldif")
	full, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}
	if err := writeFile(path, []byte("dn:\n"), 0o644); err != nil {
		return nil, err
	}
	return func() { _ = os.WriteFile(path, full, 0o644) }, nil
}

// ldapTool runs ldapadd or ldapmodify with the LDIF records over the plain
// port, bound as dn with RootPassword. The password goes through a file
// (-y), not the command line.
func (s *Server) ldapTool(name, dn, ldif string) error {
	dir, err := os.MkdirTemp(s.dir, "ldapadd-")
	if err != nil {
		return fmt.Errorf("slapdtest: %w", err)
	}
	defer os.RemoveAll(dir)
	pwFile, ldifFile := filepath.Join(dir, "pw"), filepath.Join(dir, "add.ldif")
	if err := writeFile(pwFile, []byte(s.rootPW), 0o600); err != nil {
		return err
	}
	if err := writeFile(ldifFile, []byte(ldif), 0o600); err != nil {
		return err
	}
	err = s.runTool(name, "-x", "-H", s.URL(), "-D", dn, "-y", pwFile, "-f", ldifFile)
	if err != nil {
		return fmt.Errorf("slapdtest: %w", err)
	}
	return nil
}
