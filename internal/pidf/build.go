package pidf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/status"
)

// Build returns a PIDF document for an outgoing PUBLISH: the default
// namespace is PIDF, with the dm and rpid prefixes declared on the root.
// It holds one tuple tupleID whose basic status is open unless p is
// Offline or Unknown, and a dm:person "p-"+tupleID with the RPID
// activities of docs/pidf.md, the note (in the person and the tuple, cut to
// MaxNoteBytes) and now as timestamp.
//
// entity must be a sip: or sips: URI of at most MaxTokenBytes bytes made of
// URI characters (ErrEntity); tupleID must be an ASCII XML NCName of at
// most 64 bytes (ErrTupleID). Characters XML cannot carry in the note or
// activity become U+FFFD. Parse(Build(p)).Presence() gives back p's
// availability, activity and note (trimmed) for every availability but
// Unknown, except for an activity that is one of the reserved <rpid:other>
// texts ("dnd", "brb" and their spellings), which is dropped.
func Build(entity string, p status.Presence, tupleID string, now time.Time) ([]byte, error) {
	if err := checkEntity(entity); err != nil {
		return nil, fmt.Errorf("pidf: build: %w", err)
	}
	if err := checkID(tupleID); err != nil {
		return nil, fmt.Errorf("pidf: build: %w", err)
	}
	if p.Availability > status.Offline {
		return nil, fmt.Errorf("pidf: build: %w: %d", ErrAvailability, p.Availability)
	}
	note := truncate(p.Note, MaxNoteBytes)
	ts := now.UTC().Format(time.RFC3339Nano)
	basic := "open"
	if p.Availability == status.Offline || p.Availability == status.Unknown {
		basic = "closed"
	}

	var b bytes.Buffer
	b.Grow(640 + 2*len(note))
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<presence xmlns="` + NSPIDF + `" xmlns:dm="` + NSDataModel + `" xmlns:rpid="` + NSRPID + `" entity="`)
	escape(&b, entity)
	b.WriteString("\">\n")

	b.WriteString(` <tuple id="` + tupleID + `"><status><basic>` + basic + `</basic></status>`)
	if note != "" {
		b.WriteString(`<note>`)
		escape(&b, note)
		b.WriteString(`</note>`)
	}
	b.WriteString(`<timestamp>` + ts + "</timestamp></tuple>\n")

	b.WriteString(` <dm:person id="p-` + tupleID + `">`)
	if acts := activitiesFor(p.Availability, p.Activity); len(acts) > 0 {
		b.WriteString(`<rpid:activities>`)
		for _, a := range acts {
			if a.Name == "other" {
				b.WriteString(`<rpid:other>`)
				escape(&b, a.Text)
				b.WriteString(`</rpid:other>`)
				continue
			}
			b.WriteString(`<rpid:` + a.Name + `/>`)
		}
		b.WriteString(`</rpid:activities>`)
	}
	if note != "" {
		b.WriteString(`<dm:note>`)
		escape(&b, note)
		b.WriteString(`</dm:note>`)
	}
	b.WriteString(`<dm:timestamp>` + ts + "</dm:timestamp></dm:person>\n")
	b.WriteString("</presence>\n")
	return b.Bytes(), nil
}

// escape writes s XML-escaped; xml.EscapeText cannot fail on a buffer.
func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

// activitiesFor returns the activities Build writes for an availability
// and an Activity token (the table in docs/pidf.md, read backwards).
func activitiesFor(a status.Availability, token string) []Activity {
	token = truncate(strings.TrimSpace(token), MaxTokenBytes)
	var base []Activity
	switch a {
	case status.Busy:
		base = []Activity{{Name: "busy"}}
	case status.DoNotDisturb:
		// busy first so that watchers that know only RFC 4480 see busy.
		base = []Activity{{Name: "busy"}, {Name: "other", Text: otherDND}}
	case status.Away:
		base = []Activity{{Name: "away"}}
	case status.BeRightBack:
		// away first so that watchers that know only RFC 4480 see away.
		base = []Activity{{Name: "away"}, {Name: "other", Text: otherBRB}}
	}
	if token == "" {
		return base
	}
	if el, ok := tokenElement[token]; ok {
		switch activityTable[el].avail {
		case a:
			if a == status.Busy || a == status.Away {
				return []Activity{{Name: el}} // the element says it all
			}
			return append(base, Activity{Name: el})
		case status.Unknown:
			return append(base, Activity{Name: el})
		}
	}
	if otherInfo(token).avail != status.Unknown {
		return base // a reserved text would change the availability
	}
	return append(base, Activity{Name: "other", Text: token})
}

// checkEntity validates a presentity URI for Build.
func checkEntity(s string) error {
	if len(s) > MaxTokenBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrEntity, MaxTokenBytes)
	}
	lower := strings.ToLower(s)
	rest, ok := strings.CutPrefix(lower, "sip:")
	if !ok {
		rest, ok = strings.CutPrefix(lower, "sips:")
	}
	if !ok {
		return fmt.Errorf("%w: %q is not a sip: or sips: URI", ErrEntity, s)
	}
	if rest == "" {
		return fmt.Errorf("%w: %q is empty after the scheme", ErrEntity, s)
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~:/?#[]@!$&'()*+,;=", c) >= 0:
		case c == '%':
			if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
				return fmt.Errorf("%w: bad percent-encoding in %q", ErrEntity, s)
			}
			i += 2
		default:
			return fmt.Errorf("%w: character %q not allowed in %q", ErrEntity, c, s)
		}
	}
	return nil
}

// isHex reports whether c is a lower-case or digit hex character (the
// caller lower-cases).
func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
}

// checkID validates a tuple id: an ASCII NCName of 1 to 64 bytes.
func checkID(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%w: %q must be 1 to 64 bytes", ErrTupleID, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if i == 0 && !letter {
			return fmt.Errorf("%w: %q must start with a letter or '_'", ErrTupleID, s)
		}
		if !letter && !(c >= '0' && c <= '9') && c != '-' && c != '.' {
			return fmt.Errorf("%w: character %q not allowed in %q", ErrTupleID, c, s)
		}
	}
	return nil
}
