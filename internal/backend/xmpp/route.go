package xmpp

import (
	"fmt"
	"strings"
)

// Cluster is one XMPP server as the router sees it.
type Cluster struct {
	// Name labels the cluster.
	Name string
	// Domains are the email domains it serves, lower case; empty: every
	// domain no other cluster lists.
	Domains []string
	// XMPPDomain is the domain of its users' JIDs; empty: the email's own.
	XMPPDomain string
}

// router maps a contact's email to its cluster and JID.
type router struct {
	byDomain map[string]int // email domain -> cluster index
	catchAll int            // index of the cluster without domains, or -1
	clusters []Cluster
}

func newRouter(clusters []Cluster) (*router, error) {
	r := &router{byDomain: map[string]int{}, catchAll: -1, clusters: clusters}
	for i, c := range clusters {
		if len(c.Domains) == 0 {
			if r.catchAll >= 0 {
				return nil, fmt.Errorf("clusters %q and %q both serve every domain", clusters[r.catchAll].Name, c.Name)
			}
			r.catchAll = i
		}
		for _, d := range c.Domains {
			d = strings.ToLower(d)
			if j, dup := r.byDomain[d]; dup {
				return nil, fmt.Errorf("domain %q is served by clusters %q and %q", d, clusters[j].Name, c.Name)
			}
			r.byDomain[d] = i
		}
	}
	return r, nil
}

// route returns the index of the cluster serving contact (an email) and
// the contact's bare JID there: the email's local part at the cluster's
// XMPP domain (the email's own domain when none is set), lower case.
func (r *router) route(contact string) (int, string, error) {
	local, domain, ok := strings.Cut(strings.ToLower(contact), "@")
	if !ok || local == "" || domain == "" {
		return 0, "", fmt.Errorf("contact %q is not an email address", contact)
	}
	i, ok := r.byDomain[domain]
	if !ok {
		if r.catchAll < 0 {
			return 0, "", fmt.Errorf("no XMPP cluster serves the domain of %q", contact)
		}
		i = r.catchAll
	}
	if d := r.clusters[i].XMPPDomain; d != "" {
		domain = strings.ToLower(d)
	}
	return i, local + "@" + domain, nil
}
