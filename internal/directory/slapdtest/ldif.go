package slapdtest

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// User is one directory user, described without its DN: the harness places
// it at cn=SAMACCOUNTNAME,cn=Users,DOMAIN-DN (see Server.UserDN). Empty
// strings and nil slices leave the attribute out.
type User struct {
	// Domain is RootDomain (the default when empty) or ChildDomain.
	Domain string
	// SAMAccountName is required: it names the entry (cn) and is stored as
	// sAMAccountName.
	SAMAccountName string
	Mail           string
	// ProxyAddresses are stored as given, e.g. "SMTP:alice@example.com"
	// (primary) and "smtp:a.example@example.com" (others).
	ProxyAddresses []string
	GivenName      string
	// SN is the surname; absent when empty (class user, like AD's,
	// requires only cn).
	SN              string
	DisplayName     string
	Title           string
	TelephoneNumber string
	Mobile          string
	// SIPAddress is msRTCSIP-PrimaryUserAddress, e.g. "sip:alice@example.com".
	SIPAddress string
	// SIPEnabled is msRTCSIP-UserEnabled, TRUE or FALSE; nil leaves it out.
	SIPEnabled *bool
	// DeploymentLocator is msRTCSIP-DeploymentLocator.
	DeploymentLocator string
	// XMPPAddress is stored in the attribute Options.XMPPAttribute names
	// (default XMPPAttribute, presencedXMPPAddress).
	XMPPAddress string
	// UserPrincipalName is AD's other logon name, e.g.
	// "alice@corp.example.com".
	UserPrincipalName string
	// Password is stored as userPassword, an {SSHA} hash, so the user can
	// bind with it; empty leaves userPassword out and the user cannot
	// bind. Only binds can use it (auth access): not even the service
	// account reads it.
	Password string
	// MemberOf are group DNs stored as given in memberOf, a plain
	// attribute of the test schema (no memberof overlay keeps it in step
	// with the groups' member values, unlike AD's back-link): set it to
	// test a client that reads memberOf.
	MemberOf []string
}

// Group is a group of users of one domain, an entry of object class
// groupOfNames at cn=CN,cn=Users,DOMAIN-DN (see Server.GroupDN) whose
// member values are the DNs of its members. groupOfNames requires a
// member, so a group without Members is not created (GroupDN then names
// an entry that does not exist).
type Group struct {
	// Domain is RootDomain (the default when empty) or ChildDomain.
	Domain string
	// CN names the entry; required.
	CN string
	// Members are the sAMAccountNames of users of Domain; their DNs
	// (Server.UserDN) are stored whether or not such users exist.
	Members []string
}

// groupDN returns g's DN under the naming context base.
func groupDN(g Group, base string) string {
	return "cn=" + escapeDNValue(g.CN) + ",cn=Users," + base
}

// groupLDIF appends g's entry at dn as an LDIF add record to b, its
// members under the naming context base.
func groupLDIF(b *strings.Builder, dn string, g Group, base string) {
	ldifAttr(b, "dn", dn)
	for _, oc := range []string{"top", "groupOfNames"} {
		ldifAttr(b, "objectClass", oc)
	}
	ldifAttr(b, "cn", g.CN)
	for _, m := range g.Members {
		ldifAttr(b, "member", userDN(User{SAMAccountName: m}, base))
	}
	b.WriteByte('\n')
}

// userDN returns u's DN under the naming context base.
func userDN(u User, base string) string {
	return "cn=" + escapeDNValue(u.SAMAccountName) + ",cn=Users," + base
}

// userLDIF appends u's entry at dn as an LDIF add record to b, with the
// XMPP address in xmppAttr.
func userLDIF(b *strings.Builder, dn string, u User, xmppAttr string) {
	ldifAttr(b, "dn", dn)
	for _, oc := range []string{"top", "user"} {
		ldifAttr(b, "objectClass", oc)
	}
	ldifAttr(b, "cn", u.SAMAccountName)
	if u.SN != "" {
		ldifAttr(b, "sn", u.SN)
	}
	ldifAttr(b, "sAMAccountName", u.SAMAccountName)
	for _, a := range []struct{ name, value string }{
		{"mail", u.Mail},
		{"givenName", u.GivenName},
		{"displayName", u.DisplayName},
		{"title", u.Title},
		{"telephoneNumber", u.TelephoneNumber},
		{"mobile", u.Mobile},
		{"msRTCSIP-PrimaryUserAddress", u.SIPAddress},
		{"msRTCSIP-DeploymentLocator", u.DeploymentLocator},
		{xmppAttr, u.XMPPAddress},
		{"userPrincipalName", u.UserPrincipalName},
	} {
		if a.value != "" {
			ldifAttr(b, a.name, a.value)
		}
	}
	for _, p := range u.ProxyAddresses {
		ldifAttr(b, "proxyAddresses", p)
	}
	if u.SIPEnabled != nil {
		ldifAttr(b, "msRTCSIP-UserEnabled", boolString(*u.SIPEnabled))
	}
	for _, g := range u.MemberOf {
		ldifAttr(b, "memberOf", g)
	}
	if u.Password != "" {
		ldifAttr(b, "userPassword", ssha(u.Password))
	}
	b.WriteByte('\n')
}

// boolString returns the RFC 4517 Boolean form of v.
func boolString(v bool) string {
	if v {
		return "TRUE"
	}
	return "FALSE"
}

// ldifAttr appends one "name: value" line to b, base64-encoding the value
// ("name:: ...") when RFC 2849 does not allow it as a SAFE-STRING.
func ldifAttr(b *strings.Builder, name, value string) {
	if ldifSafe(value) {
		fmt.Fprintf(b, "%s: %s\n", name, value)
		return
	}
	fmt.Fprintf(b, "%s:: %s\n", name, base64.StdEncoding.EncodeToString([]byte(value)))
}

// ldifSafe reports whether value can be written as an RFC 2849 SAFE-STRING:
// ASCII without NUL, CR or LF, not starting with a space, ':' or '<', and
// (so nothing trims it) not ending with a space.
func ldifSafe(value string) bool {
	if value == "" {
		return true
	}
	switch value[0] {
	case ' ', ':', '<':
		return false
	}
	if value[len(value)-1] == ' ' {
		return false
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == 0 || c == '\n' || c == '\r' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// escapeDNValue escapes an attribute value for a DN string (RFC 4514 §2.4).
func escapeDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == 0:
			b.WriteString(`\00`)
		case (c == ' ' || c == '#') && i == 0, c == ' ' && i == len(v)-1:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
