package loadgen

import (
	"bytes"
	"strconv"
	"strings"
)

// sipAllow is the Allow header of our answers.
const sipAllow = "Allow: SUBSCRIBE, OPTIONS\r\n"

// request answers a request from presenced.
func (s *sipServer) request(c *sipConn, m *sipMessage) {
	switch string(m.start[0]) {
	case "SUBSCRIBE":
		s.subscribe(c, m)
	case "OPTIONS": // presenced's health check
		s.counts.options.Add(1)
		c.respond(m, 200, "OK", "", sipAllow)
	case "ACK": // never answered
	default:
		s.refuse(c, m, 405, "Method Not Allowed", sipAllow)
	}
}

// refuse answers m with an error status.
func (s *sipServer) refuse(c *sipConn, m *sipMessage, code int, reason, extra string) {
	s.counts.refused.Add(1)
	c.respond(m, code, reason, "", extra)
}

// subscribe answers a SUBSCRIBE (RFC 6665 §4.2.1): a new one makes a
// dialog, answered 200 with our To tag and followed by its first NOTIFY;
// one in a dialog refreshes it, or with Expires: 0 ends it; a new one
// with Expires: 0 is a fetch, answered by one terminated NOTIFY.
func (s *sipServer) subscribe(c *sipConn, m *sipMessage) {
	callID, from, to, contact := m.header("Call-ID"), m.header("From"), m.header("To"), m.header("Contact")
	_, _, cseqOK := sipCSeq(m.header("CSeq"))
	fromTag, _ := sipParam(from, "tag")
	target := sipAddrURI(contact)
	if len(callID) == 0 || len(fromTag) == 0 || to == nil || !cseqOK || len(target) == 0 || m.header("Via") == nil {
		s.refuse(c, m, 400, "Bad Request", "")
		return
	}
	if ev := m.header("Event"); !bytes.EqualFold(bytes.TrimSpace(bytes.SplitN(ev, []byte(";"), 2)[0]), []byte("presence")) {
		s.refuse(c, m, 489, "Bad Event", "Allow-Events: presence\r\n")
		return
	}
	expires := uint64(sipDefaultExpires)
	if e := m.header("Expires"); e != nil {
		n, err := strconv.ParseUint(string(bytes.TrimSpace(e)), 10, 32)
		if err != nil {
			s.refuse(c, m, 400, "Bad Expires", "")
			return
		}
		expires = n
	}
	granted := "Expires: " + strconv.FormatUint(expires, 10) + "\r\n"

	if toTag, ok := sipParam(to, "tag"); ok {
		s.mu.Lock()
		d := s.byCall[string(callID)]
		known := d != nil && d.ourTag == string(toTag) && d.conn == c
		if known && expires == 0 {
			s.forgetLocked(d)
		}
		s.mu.Unlock()
		switch {
		case !known:
			s.refuse(c, m, 481, "Subscription Does Not Exist", "")
		case expires == 0:
			s.counts.unsubscribe.Add(1)
			c.respond(m, 200, "OK", "", granted)
		default:
			s.counts.refreshes.Add(1)
			c.respond(m, 200, "OK", "", granted)
		}
		return
	}

	s.mu.Lock()
	d := s.byCall[string(callID)]
	created := false
	if d == nil && expires > 0 && !s.closed {
		created = true
		d = s.newDialog(c, m, target, expires)
		d.busy.Store(true) // until its first NOTIFY is answered
		s.addLocked(d)
		s.counts.subscribes.Add(1)
	}
	s.mu.Unlock()
	switch {
	case d != nil && d.conn != c:
		s.refuse(c, m, 482, "Loop Detected", "")
	case d != nil:
		// New, or a retransmission of the SUBSCRIBE that made it.
		c.respond(m, 200, "OK", d.ourTag, granted)
		if created {
			s.sendInitial(d)
		}
	default: // a fetch: one NOTIFY with the state, no dialog kept
		s.counts.fetches.Add(1)
		d = s.newDialog(c, m, target, 0)
		c.respond(m, 200, "OK", d.ourTag, granted)
		s.sendInitial(d)
	}
}

// newDialog builds the dialog a new SUBSCRIBE m over c opens: our
// NOTIFYs go to its Contact (target), From the presentity with our tag,
// To the subscriber with its tag. expires 0 makes the NOTIFYs terminate
// the subscription.
func (s *sipServer) newDialog(c *sipConn, m *sipMessage, target []byte, expires uint64) *sipDialog {
	d := &sipDialog{conn: c, callID: string(m.header("Call-ID")), ourTag: s.newTag(), index: -1}
	to := m.header("To")
	d.entity = xmlEscape(string(sipAddrURI(to)))
	var b []byte
	b = append(b, "NOTIFY "...)
	b = append(b, target...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/TCP "...)
	b = append(b, c.c.LocalAddr().String()...)
	b = append(b, ";branch="...)
	b = append(b, s.prefix...)
	d.head = b
	state := "active;expires=" + strconv.FormatUint(expires, 10)
	if expires == 0 {
		state = "terminated;reason=timeout"
	}
	mid := make([]byte, 0, 256+len(to)+len(d.callID))
	mid = append(mid, "\r\nMax-Forwards: 70\r\nFrom: "...)
	mid = append(mid, to...)
	mid = append(mid, ";tag="...)
	mid = append(mid, d.ourTag...)
	mid = append(mid, "\r\nTo: "...)
	mid = append(mid, m.header("From")...)
	mid = append(mid, "\r\nCall-ID: "...)
	mid = append(mid, d.callID...)
	mid = append(mid, "\r\nContact: "+c.contact+"\r\nEvent: presence\r\nSubscription-State: "+state+
		"\r\nContent-Type: application/pidf+xml\r\nCSeq: "...)
	d.mid = mid
	return d
}

// respond writes the answer to m: its Via, From, To (with toTag added
// when given and it has none), Call-ID and CSeq, then extra header lines
// (each ending in CRLF), and no body.
func (c *sipConn) respond(m *sipMessage, code int, reason, toTag, extra string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.bw
	w.WriteString("SIP/2.0 ")
	w.WriteString(strconv.Itoa(code))
	w.WriteByte(' ')
	w.WriteString(reason)
	w.WriteString("\r\n")
	for _, h := range m.headers {
		if bytes.EqualFold(h.name, []byte("Via")) {
			w.WriteString("Via: ")
			w.Write(h.value)
			w.WriteString("\r\n")
		}
	}
	for _, name := range [...]string{"From", "To", "Call-ID", "CSeq"} {
		v := m.header(name)
		if v == nil {
			continue
		}
		w.WriteString(name)
		w.WriteString(": ")
		w.Write(v)
		if _, tagged := sipParam(v, "tag"); name == "To" && toTag != "" && !tagged {
			w.WriteString(";tag=")
			w.WriteString(toTag)
		}
		w.WriteString("\r\n")
	}
	if code/100 == 2 {
		w.WriteString("Contact: ")
		w.WriteString(c.contact)
		w.WriteString("\r\n")
	}
	w.WriteString(extra)
	w.WriteString("Content-Length: 0\r\n\r\n")
	_ = w.Flush() // a failed connection is noticed by its reader
}

// xmlEscape escapes s for an XML attribute value.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
