package account

import (
	"context"
	"errors"
	"strings"

	"github.com/presenced/presenced/internal/clock"
)

// initialPresence is sent after login. Priority -1 keeps messages to the
// bare JID away from the account (RFC 6121 section 8.5.2.1.1); the server
// answers it with the presence of every contact the account is
// subscribed to.
const initialPresence = "<presence><priority>-1</priority></presence>"

// connectOnce logs in and serves one connection until it fails or ctx
// ends. established reports whether the session got as far as its
// initial presence (the reconnect backoff then starts over).
func (s *Session) connectOnce(ctx context.Context) (established bool, err error) {
	c, err := s.login(ctx)
	if err != nil {
		return false, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.end(s.serve(c))
	}()
	established, err = s.keep(ctx, c, done)
	c.nc.Close()
	<-done
	return established, err
}

// keep sets the session up on c (roster, initial presence) and then pings
// the server every KeepAlive until the stream ends (done), a ping goes
// unanswered for a period, or ctx ends.
func (s *Session) keep(ctx context.Context, c *conn, done <-chan struct{}) (bool, error) {
	setup, cancel := context.WithTimeout(ctx, ioTimeout)
	items, err := s.fetchRoster(setup, c)
	cancel()
	if err != nil {
		return false, err
	}
	s.setRoster(items)
	if err := c.write(initialPresence); err != nil {
		return false, err
	}
	s.connected(c)

	var ticks <-chan struct{}
	if s.cfg.KeepAlive > 0 {
		t, stop := clock.Ticker(s.cfg.Clock, s.cfg.KeepAlive)
		defer stop()
		ticks = t
	}
	var ping <-chan element // the open ping, nil before the first
	for {
		select {
		case <-done:
			return true, c.endErr()
		case <-ctx.Done():
			c.closeStream()
			return true, ctx.Err()
		case <-ticks:
			if ping != nil {
				select {
				case <-ping:
				default:
					return true, ErrKeepAlive
				}
			}
			if _, ping, err = c.send("get", s.domain, "<ping xmlns='"+nsPing+"'/>"); err != nil {
				return true, err
			}
		}
	}
}

// serve reads c's stream until it ends, dispatching each stanza.
func (s *Session) serve(c *conn) error {
	for {
		el, err := c.r.next()
		if err != nil {
			switch {
			case errors.Is(err, ErrStanzaTooLarge):
				_ = c.write("<stream:error><policy-violation xmlns='" + nsStreams + "'/></stream:error></stream:stream>")
			case errors.Is(err, ErrProtocol):
				_ = c.write("<stream:error><not-well-formed xmlns='" + nsStreams + "'/></stream:error></stream:stream>")
			}
			return err
		}
		if el.start.Name.Space != nsClient {
			continue
		}
		switch el.start.Name.Local {
		case "presence":
			s.presence(el)
		case "iq":
			if err := s.handleIQ(c, el); err != nil {
				return err
			}
		}
		// Messages are ignored: the account is no one's chat partner.
	}
}

// presence hands a received presence to OnPresence unless it is the
// account's own (from one of its resources, or without from, which
// means the account itself; RFC 6120 section 8.1.2.1).
func (s *Session) presence(el element) {
	from := el.attr("from")
	if from == "" || strings.EqualFold(bareJID(from), s.bare()) {
		return
	}
	s.cfg.OnPresence(el.raw)
}

// handleIQ delivers answers to open requests and answers the server's
// requests: roster pushes (RFC 6121 section 2.1.6) and pings (XEP-0199);
// anything else gets service-unavailable.
func (s *Session) handleIQ(c *conn, el element) error {
	switch el.attr("type") {
	case "result", "error":
		c.answer(el)
		return nil
	case "get", "set":
	default:
		return nil
	}
	var iq iqXML
	if err := el.decode(&iq); err != nil {
		return c.reply(el, "bad-request")
	}
	switch {
	case iq.Type == "set" && iq.Roster != nil:
		// A push from anyone but the account's server is an attack.
		if iq.From != "" && !strings.EqualFold(bareJID(iq.From), s.bare()) {
			return c.reply(el, "service-unavailable")
		}
		s.applyPush(iq.Roster.Items)
		return c.reply(el, "")
	case iq.Type == "get" && iq.Ping != nil:
		return c.reply(el, "")
	}
	return c.reply(el, "service-unavailable")
}

// bareJID returns jid without its resource.
func bareJID(jid string) string {
	bare, _, _ := strings.Cut(jid, "/")
	return bare
}
