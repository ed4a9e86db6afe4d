package account

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// rosterXML is a jabber:iq:roster query.
type rosterXML struct {
	Items []itemXML `xml:"item"`
}

// itemXML is one roster item.
type itemXML struct {
	JID          string `xml:"jid,attr"`
	Subscription string `xml:"subscription,attr"`
	Ask          string `xml:"ask,attr"`
}

// item converts a roster item; subscription defaults to "none".
func (x itemXML) item() Item {
	sub := x.Subscription
	if sub == "" {
		sub = "none"
	}
	return Item{JID: strings.ToLower(x.JID), Subscription: sub, Pending: x.Ask == "subscribe"}
}

// Watch makes the account subscribe to contact's presence (a bare JID,
// compared in lower case): it adds contact to the roster if absent,
// waits for the server to acknowledge that, then sends a subscription
// request, unless the roster already shows a subscription (to or both).
// Once the contact approves, its presence arrives at OnPresence; a
// contact who is offline gets the request when it next logs in. Watch
// is idempotent. It waits for a live stream until ctx ends.
func (s *Session) Watch(ctx context.Context, contact string) error {
	jid, err := contactJID(contact)
	if err != nil {
		return err
	}
	c, err := s.live(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", jid, err)
	}
	s.mu.Lock()
	it, ok := s.roster[jid]
	s.mu.Unlock()
	if ok && (it.Subscription == "to" || it.Subscription == "both") {
		return nil
	}
	if !ok {
		query := "<query xmlns='" + nsRoster + "'><item jid='" + escape(jid) + "'/></query>"
		if _, err := c.iq(ctx, "set", "", query); err != nil {
			return fmt.Errorf("watch %s: add to roster: %w", jid, err)
		}
	}
	if err := c.write("<presence to='" + escape(jid) + "' type='subscribe'/>"); err != nil {
		return fmt.Errorf("watch %s: subscribe: %w", jid, err)
	}
	return nil
}

// Unwatch removes contact from the roster, which makes the server cancel
// the subscription both ways (RFC 6121 section 2.5.2), and waits for the
// acknowledgement. It is idempotent: a contact not on the roster is no
// error. It waits for a live stream until ctx ends.
func (s *Session) Unwatch(ctx context.Context, contact string) error {
	jid, err := contactJID(contact)
	if err != nil {
		return err
	}
	c, err := s.live(ctx)
	if err != nil {
		return fmt.Errorf("unwatch %s: %w", jid, err)
	}
	query := "<query xmlns='" + nsRoster + "'><item jid='" + escape(jid) + "' subscription='remove'/></query>"
	_, err = c.iq(ctx, "set", "", query)
	if se := (*StanzaError)(nil); errors.As(err, &se) && se.Condition == "item-not-found" {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("unwatch %s: %w", jid, err)
	}
	s.mu.Lock()
	delete(s.roster, jid)
	s.mu.Unlock()
	return nil
}

// Roster fetches the account's roster from the server, sorted by JID. It
// waits for a live stream until ctx ends.
func (s *Session) Roster(ctx context.Context) ([]Item, error) {
	c, err := s.live(ctx)
	if err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	items, err := s.fetchRoster(ctx, c)
	if err != nil {
		return nil, err
	}
	s.setRoster(items)
	return items, nil
}

// fetchRoster requests the roster on c.
func (s *Session) fetchRoster(ctx context.Context, c *conn) ([]Item, error) {
	iq, err := c.iq(ctx, "get", "", "<query xmlns='"+nsRoster+"'/>")
	if err != nil {
		return nil, fmt.Errorf("fetch roster: %w", err)
	}
	items := []Item{}
	if iq.Roster != nil {
		for _, x := range iq.Roster.Items {
			items = append(items, x.item())
		}
	}
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.JID, b.JID) })
	return items, nil
}

// setRoster replaces the cached roster.
func (s *Session) setRoster(items []Item) {
	m := make(map[string]Item, len(items))
	for _, it := range items {
		m[it.JID] = it
	}
	s.mu.Lock()
	s.roster = m
	s.mu.Unlock()
}

// applyPush updates the cached roster from a roster push.
func (s *Session) applyPush(items []itemXML) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range items {
		it := x.item()
		if it.Subscription == "remove" {
			delete(s.roster, it.JID)
			continue
		}
		s.roster[it.JID] = it
	}
}

// contactJID checks and lower-cases a contact's bare JID.
func contactJID(contact string) (string, error) {
	local, domain, ok := strings.Cut(contact, "@")
	if !ok || local == "" || domain == "" || len(contact) > 3071 ||
		strings.ContainsAny(contact, "/\"&'<> \t\r\n") || strings.Contains(domain, "@") {
		return "", fmt.Errorf("xmpp account: contact %q is not a bare user JID", contact)
	}
	return strings.ToLower(contact), nil
}
