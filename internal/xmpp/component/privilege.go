package component

import (
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// trustedPresence are the XEP-0356 presence permissions that let the
// component see every user's presence: managed_entity (all users) or
// roster (the users and their contacts).
var trustedPresence = []string{"managed_entity", "roster"}

// privilegeMessage is the part of a <message/> the advertisement check
// reads.
type privilegeMessage struct {
	From      string `xml:"from,attr"`
	Privilege *struct {
		XMLName xml.Name
		Perms   []struct {
			Access string `xml:"access,attr"`
			Type   string `xml:"type,attr"`
		} `xml:"perm"`
	} `xml:"privilege"`
}

// advertisement is a XEP-0356 privilege advertisement.
type advertisement struct {
	namespace string            // urn:xmpp:privilege:1 or :2
	perms     map[string]string // access -> type
}

// parseAdvertisement returns the advertisement a <message/> carries and
// whether it carries one from domain. Messages from anyone else are not
// advertisements: only the server may grant privileges.
func parseAdvertisement(e element, domain string) (advertisement, bool) {
	var m privilegeMessage
	if err := e.decode(&m); err != nil || m.Privilege == nil {
		return advertisement{}, false
	}
	ns := m.Privilege.XMLName.Space
	if ns != nsPriv1 && ns != nsPriv2 {
		return advertisement{}, false
	}
	if !strings.EqualFold(m.From, domain) {
		return advertisement{}, false
	}
	a := advertisement{namespace: ns, perms: map[string]string{}}
	for _, p := range m.Privilege.Perms {
		a.perms[p.Access] = p.Type
	}
	return a, true
}

// check returns nil when a grants a presence permission trusted mode
// needs, else an error naming what is missing and what was granted.
func (a advertisement) check(domain string) error {
	if slices.Contains(trustedPresence, a.perms["presence"]) {
		return nil
	}
	got := "none"
	if len(a.perms) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(a.perms)) {
			parts = append(parts, k+"="+a.perms[k])
		}
		got = strings.Join(parts, ", ")
	}
	return fmt.Errorf("privileges from %s lack presence permission managed_entity or roster (granted: %s)", domain, got)
}
