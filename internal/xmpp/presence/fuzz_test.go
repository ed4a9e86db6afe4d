package presence

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/status"
)

// benchStanza is a presence as Prosody broadcasts it for a desktop client:
// caps, a vCard avatar hash, idle and a delay stamp.
const benchStanza = `<presence xmlns="jabber:client" from="juliet@example.com/balcony-4f2a" to="presence.example.com" id="pres-8812">` +
	`<show>away</show><status xml:lang="en">In a meeting until 3pm</status><priority>10</priority>` +
	`<c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="https://gajim.org" ver="k3Q2HlkD3yDRlfhJP8lgcYY1u1E="/>` +
	`<x xmlns="vcard-temp:x:update"><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo></x>` +
	`<idle xmlns="urn:xmpp:idle:1" since="2026-03-01T08:55:00Z"/>` +
	`<delay xmlns="urn:xmpp:delay" from="example.com" stamp="2026-03-01T09:00:00Z"/></presence>`

var fuzzSeeds = []string{
	benchStanza,
	`<presence/>`,
	`<presence type='unavailable' from='juliet@example.com'/>`,
	`<c:presence xmlns:c='jabber:component:accept' from='a@b/c'><c:show>dnd</c:show><c:priority>-3</c:priority></c:presence>`,
	`<presence xml:lang='de'><status>weg</status><status xml:lang='en'>away</status></presence>`,
	`<presence><x xmlns='jabber:x:delay' stamp='20020910T23:08:25'/><priority>300</priority><show>busy</show></presence>`,
	`<presence type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text>t</text></error></presence>`,
	`<!DOCTYPE p [<!ENTITY a "b">]><presence>&a;</presence>`,
	`<presence><status>&amp;&#x1F600;</status></presence>`,
	`<presence from='Ünï@[::1]/r/s'/>`,
}

// FuzzParse checks that Parse never panics, fails only with its sentinels,
// and that every stanza it returns keeps the documented invariants and
// merges into a valid presence.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	sentinels := []error{ErrTooLarge, ErrTooDeep, ErrTooMany, ErrRestricted, ErrSyntax, ErrNotPresence, ErrType, ErrJID}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Parse(raw)
		if err != nil {
			for _, e := range sentinels {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("Parse error %v wraps no sentinel", err)
		}
		checkStanza(t, s)
		u := NewUser(func() time.Time { return t0 })
		u.Apply(s)
		p := u.Presence()
		if p.Availability > status.Offline || (p.Availability != status.Unknown && p.Reason != status.NoReason) {
			t.Fatalf("merged presence %+v is invalid", p)
		}
		if p.Since.After(t0) {
			t.Fatalf("Since %v is after the clock %v", p.Since, t0)
		}
	})
}

func checkStanza(t *testing.T, s Stanza) {
	t.Helper()
	if _, err := parseType(string(s.Type)); s.Type != TypeAvailable && err != nil {
		t.Fatalf("type %q is invalid", s.Type)
	}
	switch s.Show {
	case ShowNone, ShowAway, ShowChat, ShowDND, ShowXA:
	default:
		t.Fatalf("show %q is invalid", s.Show)
	}
	for _, text := range []string{s.Status, s.Error.Text} {
		if len(text) > MaxStatusBytes || !utf8.ValidString(text) {
			t.Fatalf("text %q is too long or not UTF-8", text)
		}
	}
	if (s.Type == TypeError) != (s.Error.Condition != "") {
		t.Fatalf("type %q with error %+v", s.Type, s.Error)
	}
	if s.Error.Condition != "" && !conditions[s.Error.Condition] {
		t.Fatalf("condition %q is not defined", s.Error.Condition)
	}
	if s.Error.Type != "" && !errorTypes[s.Error.Type] {
		t.Fatalf("error type %q is invalid", s.Error.Type)
	}
	if !s.Delay.IsZero() && s.Delay.Location() != time.UTC {
		t.Fatalf("delay %v is not UTC", s.Delay)
	}
	for _, j := range []JID{s.From, s.To} {
		if j.IsZero() {
			continue
		}
		again, err := ParseJID(j.String())
		if err != nil || again != j {
			t.Fatalf("JID %+v does not round-trip: %+v, %v", j, again, err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	raw := []byte(benchStanza)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMinimal(b *testing.B) {
	raw := []byte(`<presence from='juliet@example.com/balcony' type='unavailable'/>`)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUserApply measures one available presence applied to a user
// with four online resources, merge included.
func BenchmarkUserApply(b *testing.B) {
	u := NewUser(func() time.Time { return t0 })
	for _, r := range []string{"pc", "phone", "tablet", "web"} {
		u.Apply(avail(r, ShowAway, 0, r))
	}
	shows := []Show{ShowNone, ShowDND}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u.Apply(avail("phone", shows[i%2], 1, "x"))
		i++
	}
}
