package loadgen

import (
	"context"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// The presence stanzas of the xmpp scenario, as an XMPP server forwards a
// user's presence to a privileged component (XEP-0356 presence
// permission "roster"):
//
//	<presence from='contact-7@example.com/bench' to='presence.example.com'>
//	  <show>dnd</show><status>RUN:UNIXNANOS</status><priority>5</priority></presence>
//
// The status is "<run>:<unix nanos>", the time the stanza was rendered,
// so that the watchers' streams can time the delivery. A contact's
// presences cycle through available (no show), dnd and away, so that
// every one is a change.
const (
	xmppResource = "bench"
	xmppPriority = "5"
)

// xmppShows are the show values a contact's presences cycle through; ""
// is plain available.
var xmppShows = [...]string{"", "dnd", "away"}

// appendPresence appends the presence stanza number n (from 0) of a
// round-robin over contacts contact-1..contact-<contacts>, with the status
// note. The names are validated DNS names and need no escaping.
func appendPresence(b []byte, n uint64, contacts int, jidDomain, component string, note []byte) []byte {
	k := n % uint64(contacts)
	show := xmppShows[(n/uint64(contacts))%uint64(len(xmppShows))]
	b = append(b, "<presence from='"+contactPrefix...)
	b = strconv.AppendUint(b, k+1, 10)
	b = append(b, '@')
	b = append(b, jidDomain...)
	b = append(b, "/"+xmppResource+"' to='"...)
	b = append(b, component...)
	b = append(b, "'>"...)
	if show != "" {
		b = append(b, "<show>"+show+"</show>"...)
	}
	b = append(b, "<status>"...)
	b = append(b, note...)
	return append(b, "</status><priority>"+xmppPriority+"</priority></presence>"...)
}

// writePresence renders presence n into the session's buffer (flushed
// when full) and counts it.
func (s *xmppServer) writePresence(sess *xmppSession, n uint64, contacts int) error {
	var noteBuf [48]byte
	note := strconv.AppendInt(append(append(noteBuf[:0], s.opt.Run...), ':'), time.Now().UnixNano(), 10)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.scratch = appendPresence(sess.scratch[:0], n, contacts, s.opt.JIDDomain, s.opt.Component, note)
	if err := sess.writeLocked(sess.scratch, false); err != nil {
		return err
	}
	s.counts.sentTotal.Add(1)
	if s.measuring.Load() {
		s.counts.sent.Add(1)
	}
	return nil
}

// sendPresences sends presence stanzas round-robin over contacts
// contact-1..contact-<contacts> on the latest authenticated stream until
// ctx ends or limit were sent (0: no limit), at perSecond in total (0: as
// fast as the connection takes them: XMPP has no per-stanza answer, so
// the TCP connection is the only back-pressure). It returns how many it
// sent. Stanzas are buffered while more follow at once and flushed
// before the loop waits. Without a stream it waits for one; a stream
// that fails is dropped (its reader warns) and the next one is used. One
// call at a time.
func (s *xmppServer) sendPresences(ctx context.Context, contacts int, limit uint64, perSecond float64) uint64 {
	var lim *rate.Limiter
	if perSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/100)))
	}
	var sess, failed *xmppSession
	flush := func() {
		if sess != nil {
			_ = sess.flush() // a failed stream is noticed by its reader
		}
	}
	defer flush()
	var sent uint64
	for ctx.Err() == nil && (limit == 0 || sent < limit) {
		if cur := s.session(); cur != sess {
			flush()
			sess = cur
		}
		if sess == nil || sess == failed { // none yet, or its reader has yet to drop it
			if !sleep(ctx, 10*time.Millisecond) {
				break
			}
			continue
		}
		if lim != nil {
			if wait := lim.Reserve().Delay(); wait > 0 {
				flush()
				if !sleep(ctx, wait) {
					break
				}
			}
		}
		if err := s.writePresence(sess, s.next, contacts); err != nil {
			failed = sess
			continue
		}
		s.next++
		sent++
	}
	return sent
}
