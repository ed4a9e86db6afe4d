// Package wire holds the JSON shapes presenced shows apps: the presence
// object of API.md §3 and the stream events. Both the client API and the
// stream encode through here so the two can never disagree.
package wire

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/status"
)

// Presence is the presence object of the client API.
type Presence struct {
	User         string     `json:"user"`
	Availability string     `json:"availability"`
	Code         int        `json:"code"`
	Reason       string     `json:"reason,omitempty"`
	Activity     string     `json:"activity,omitempty"`
	Note         string     `json:"note,omitempty"`
	Since        *time.Time `json:"since,omitempty"`
}

// FromStatus returns the presence object of contact in state p.
func FromStatus(contact string, p status.Presence) Presence {
	w := Presence{
		User:         contact,
		Availability: p.Availability.String(),
		Code:         p.Availability.Code(),
		Activity:     p.Activity,
		Note:         p.Note,
	}
	if p.Availability == status.Unknown {
		w.Reason = p.Reason.String()
	}
	if !p.Since.IsZero() {
		s := p.Since.UTC()
		w.Since = &s
	}
	return w
}

// AppendPresence appends the JSON of FromStatus(contact, p) to b, the same
// bytes encoding/json would produce, without reflection or allocation
// beyond b's growth. It is the hot path of stream fan-out.
func AppendPresence(b []byte, contact string, p status.Presence) []byte {
	b = append(b, `{"user":`...)
	b = appendString(b, contact)
	b = append(b, `,"availability":"`...)
	b = append(b, p.Availability.String()...)
	b = append(b, `","code":`...)
	b = strconv.AppendInt(b, int64(p.Availability.Code()), 10)
	if p.Availability == status.Unknown && p.Reason != status.NoReason {
		b = append(b, `,"reason":"`...)
		b = append(b, p.Reason.String()...)
		b = append(b, '"')
	}
	if p.Activity != "" {
		b = append(b, `,"activity":`...)
		b = appendString(b, p.Activity)
	}
	if p.Note != "" {
		b = append(b, `,"note":`...)
		b = appendString(b, p.Note)
	}
	if !p.Since.IsZero() {
		b = append(b, `,"since":"`...)
		b = p.Since.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return append(b, '}')
}

// AppendPresenceEvent appends a stream event
// {"type":"presence","subscription":ID,"sequence":N,"presence":P} where
// presenceJSON is the output of AppendPresence.
func AppendPresenceEvent(b []byte, subscription string, seq uint64, presenceJSON []byte) []byte {
	b = append(b, `{"type":"presence","subscription":`...)
	b = appendString(b, subscription)
	b = append(b, `,"sequence":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"presence":`...)
	b = append(b, presenceJSON...)
	return append(b, '}')
}

// AppendExpiredEvent appends {"type":"expired","subscription":ID}.
func AppendExpiredEvent(b []byte, subscription string) []byte {
	b = append(b, `{"type":"expired","subscription":`...)
	b = appendString(b, subscription)
	return append(b, '}')
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string with encoding/json's escaping
// (HTML-safe, invalid UTF-8 replaced by U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
