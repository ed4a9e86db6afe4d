package ldap

import (
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// lookupFilter returns the filter of a Lookup of email among the entries
// objects selects: the mail attribute or an smtp: proxy address equals it.
// Both attributes match case-insensitively in AD (and in slapdtest's
// schema: caseIgnoreMatch), so "smtp:" also finds the primary "SMTP:".
func lookupFilter(objects string, a Attributes, email string) string {
	e := goldap.EscapeFilter(email)
	return "(&" + objects + "(|(" + a.Mail + "=" + e + ")(" + a.ProxyAddresses + "=smtp:" + e + ")))"
}

// searchFilter returns the filter of a Search for text among the entries
// objects selects: a substring of the display name, or a prefix of the
// mail, account name, given name or surname. Metacharacters in text are
// escaped (RFC 4515), so they match themselves.
func searchFilter(objects string, a Attributes, text string) string {
	t := goldap.EscapeFilter(text)
	var b strings.Builder
	b.WriteString("(&" + objects + "(|(" + a.DisplayName + "=*" + t + "*)")
	for _, attr := range []string{a.Mail, a.SAMAccountName, a.GivenName, a.SN} {
		b.WriteString("(" + attr + "=" + t + "*)")
	}
	b.WriteString("))")
	return b.String()
}
