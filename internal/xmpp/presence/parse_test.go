package presence

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	juliet     = JID{Local: "juliet", Domain: "example.com", Resource: "balcony"}
	julietBare = JID{Local: "juliet", Domain: "example.com"}
	gateway    = JID{Domain: "presence.example.com"}
)

func TestParse(t *testing.T) {
	stamp := time.Date(2002, 9, 10, 23, 8, 25, 0, time.UTC)
	tests := []struct {
		name string
		raw  string
		want Stanza
	}{
		{
			name: "client namespace, JIDs normalised",
			raw:  `<presence xmlns='jabber:client' from='Juliet@Example.COM./balcony' to='presence.example.com'/>`,
			want: Stanza{From: juliet, To: gateway},
		},
		{
			name: "component namespace",
			raw:  `<presence xmlns="jabber:component:accept" from="juliet@example.com/balcony"><show>dnd</show></presence>`,
			want: Stanza{From: juliet, Show: ShowDND},
		},
		{
			name: "no namespace",
			raw:  `<presence from='juliet@example.com/balcony'><show>away</show><status>lunch</status><priority>5</priority></presence>`,
			want: Stanza{From: juliet, Show: ShowAway, Status: "lunch", Priority: 5},
		},
		{
			name: "prefixed",
			raw: `<c:presence xmlns:c='jabber:component:accept' from='juliet@example.com/balcony'>` +
				`<c:show>xa</c:show><c:status>gone</c:status><c:priority>-1</c:priority></c:presence>`,
			want: Stanza{From: juliet, Show: ShowXA, Status: "gone", Priority: -1},
		},
		{
			name: "children without namespace under a prefixed stanza",
			raw:  `<c:presence xmlns:c='jabber:client'><show>chat</show></c:presence>`,
			want: Stanza{Show: ShowChat},
		},
		{
			name: "decoys in other namespaces are skipped",
			raw: `<presence xmlns='jabber:client'><show xmlns='urn:decoy'>dnd</show>` +
				`<x xmlns='vcard-temp:x:update'><photo>abc</photo></x>` +
				`<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>` +
				`<status xmlns='urn:decoy'>no</status><status>yes</status></presence>`,
			want: Stanza{Status: "yes"},
		},
		{
			name: "whitespace trimmed, around the element too",
			raw:  "\n  <presence>\n<show> away </show>\n<status>\n  out  \n</status><priority> 7 </priority></presence>\n",
			want: Stanza{Show: ShowAway, Status: "out", Priority: 7},
		},
		{
			name: "predefined entities and character references",
			raw:  `<presence><status>a &amp; b &lt;c&gt; &#x263A;</status></presence>`,
			want: Stanza{Status: "a & b <c> \u263a"},
		},
		{
			name: "unavailable with status",
			raw:  `<presence type='unavailable' from='juliet@example.com/balcony'><status>gone home</status></presence>`,
			want: Stanza{From: juliet, Type: TypeUnavailable, Status: "gone home"},
		},
		{
			name: "subscription types",
			raw:  `<presence type='subscribed' from='juliet@example.com'/>`,
			want: Stanza{From: julietBare, Type: TypeSubscribed},
		},
		{
			name: "status: first in no language wins over later English",
			raw:  `<presence><status xml:lang='de'>weg</status><status>away</status><status xml:lang='en'>out</status></presence>`,
			want: Stanza{Status: "away"},
		},
		{
			name: "status: English wins over the stanza's own language",
			raw:  `<presence xml:lang='de'><status>weg</status><status xml:lang='EN-gb'>away</status></presence>`,
			want: Stanza{Status: "away", StatusLang: "EN-gb"},
		},
		{
			name: "status: no preferred language, first kept with inherited lang",
			raw:  `<presence xml:lang='fr'><status>parti</status><status xml:lang='de'>weg</status></presence>`,
			want: Stanza{Status: "parti", StatusLang: "fr"},
		},
		{
			name: "status: explicit empty xml:lang is preferred",
			raw:  `<presence xml:lang='fr'><status>parti</status><status xml:lang=''>gone</status></presence>`,
			want: Stanza{Status: "gone"},
		},
		{
			name: "status: empty ones are ignored",
			raw:  `<presence><status/><status>  </status><status xml:lang='de'>weg</status></presence>`,
			want: Stanza{Status: "weg", StatusLang: "de"},
		},
		{
			name: "status: 'english' is not en",
			raw:  `<presence><status xml:lang='english'>x</status><status xml:lang='en-US'>y</status></presence>`,
			want: Stanza{Status: "y", StatusLang: "en-US"},
		},
		{
			name: "unknown show",
			raw:  `<presence><show>busy</show></presence>`,
			want: Stanza{Quirks: QuirkUnknownShow},
		},
		{
			name: "show is case-sensitive",
			raw:  `<presence><show>DND</show></presence>`,
			want: Stanza{Quirks: QuirkUnknownShow},
		},
		{
			name: "second show and priority ignored",
			raw:  `<presence><show>away</show><show>dnd</show><priority>1</priority><priority>2</priority></presence>`,
			want: Stanza{Show: ShowAway, Priority: 1, Quirks: QuirkDuplicate},
		},
		{
			name: "priority not a number",
			raw:  `<presence><priority>high</priority></presence>`,
			want: Stanza{Quirks: QuirkBadPriority},
		},
		{
			name: "priority out of range",
			raw:  `<presence><priority>128</priority></presence>`,
			want: Stanza{Quirks: QuirkBadPriority},
		},
		{
			name: "priority extremes",
			raw:  `<presence><priority>-128</priority></presence>`,
			want: Stanza{Priority: -128},
		},
		{
			name: "priority empty",
			raw:  `<presence><priority/></presence>`,
			want: Stanza{Quirks: QuirkBadPriority},
		},
		{
			name: "delay XEP-0203",
			raw:  `<presence><delay xmlns='urn:xmpp:delay' from='example.com' stamp='2002-09-10T23:08:25Z'/></presence>`,
			want: Stanza{Delay: stamp},
		},
		{
			name: "delay XEP-0203 with fraction and offset, stored in UTC",
			raw:  `<presence><delay xmlns='urn:xmpp:delay' stamp='2002-09-11T01:08:25.5+02:00'/></presence>`,
			want: Stanza{Delay: stamp.Add(500 * time.Millisecond)},
		},
		{
			name: "delay legacy XEP-0091",
			raw:  `<presence><x xmlns='jabber:x:delay' stamp='20020910T23:08:25'/></presence>`,
			want: Stanza{Delay: stamp},
		},
		{
			name: "delay: XEP-0203 wins over legacy",
			raw: `<presence><x xmlns='jabber:x:delay' stamp='20000101T00:00:00'/>` +
				`<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'/></presence>`,
			want: Stanza{Delay: stamp},
		},
		{
			name: "delay: earliest of several",
			raw: `<presence><delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:09:00Z'/>` +
				`<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'/></presence>`,
			want: Stanza{Delay: stamp},
		},
		{
			name: "delay: bad stamp falls back to legacy",
			raw: `<presence><delay xmlns='urn:xmpp:delay' stamp='yesterday'/>` +
				`<x xmlns='jabber:x:delay' stamp='20020910T23:08:25'/></presence>`,
			want: Stanza{Delay: stamp, Quirks: QuirkBadDelay},
		},
		{
			name: "delay: missing stamp",
			raw:  `<presence><delay xmlns='urn:xmpp:delay'/></presence>`,
			want: Stanza{Quirks: QuirkBadDelay},
		},
		{
			name: "delay: legacy form in the XEP-0203 element is bad",
			raw:  `<presence><delay xmlns='urn:xmpp:delay' stamp='20020910T23:08:25'/></presence>`,
			want: Stanza{Quirks: QuirkBadDelay},
		},
		{
			name: "delay element without its namespace is skipped",
			raw:  `<presence><delay stamp='2002-09-10T23:08:25Z'/></presence>`,
			want: Stanza{},
		},
		{
			name: "error with condition and text",
			raw: `<presence type='error' from='juliet@example.com'><error type='cancel'>` +
				`<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>no such server</text>` +
				`<app xmlns='urn:example:app'/></error></presence>`,
			want: Stanza{From: julietBare, Type: TypeError, Error: StanzaError{
				Type: "cancel", Condition: "remote-server-not-found", Text: "no such server"}},
		},
		{
			name: "error: text before condition, condition without namespace",
			raw:  `<presence type='error'><error type='wait'><text>busy</text><resource-constraint/></error></presence>`,
			want: Stanza{Type: TypeError, Error: StanzaError{Type: "wait", Condition: "resource-constraint", Text: "busy"}},
		},
		{
			name: "error: no condition, unknown type",
			raw:  `<presence type='error'><error type='bogus'/></presence>`,
			want: Stanza{Type: TypeError, Error: StanzaError{Condition: "undefined-condition"}},
		},
		{
			name: "error: no error element at all",
			raw:  `<presence type='error'/>`,
			want: Stanza{Type: TypeError, Error: StanzaError{Condition: "undefined-condition"}},
		},
		{
			name: "error: unknown condition is undefined-condition, second error ignored",
			raw: `<presence type='error'><error type='modify'><made-up xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>` +
				`<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`,
			want: Stanza{Type: TypeError, Error: StanzaError{Type: "modify", Condition: "undefined-condition"}},
		},
		{
			name: "error: condition in an app namespace is not a condition",
			raw:  `<presence type='error'><error type='cancel'><forbidden xmlns='urn:example'/></error></presence>`,
			want: Stanza{Type: TypeError, Error: StanzaError{Type: "cancel", Condition: "undefined-condition"}},
		},
		{
			name: "error element on an available presence is skipped",
			raw:  `<presence><error type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`,
			want: Stanza{},
		},
		{
			name: "show nested deeper is not the show",
			raw:  `<presence><x xmlns='urn:other'><show>dnd</show></x><status>a<b>c</b>d</status></presence>`,
			want: Stanza{Status: "ad"},
		},
		{
			name: "Prosody-style broadcast",
			raw: `<presence xmlns="jabber:client" from="juliet@example.com/balcony" to="presence.example.com" id="x1">` +
				`<show>away</show><status>Auto Status (idle)</status><priority>0</priority>` +
				`<c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="http://gajim.org" ver="abc="/>` +
				`<idle xmlns="urn:xmpp:idle:1" since="2002-09-10T23:00:00Z"/>` +
				`<delay xmlns="urn:xmpp:delay" from="example.com" stamp="2002-09-10T23:08:25Z"/></presence>`,
			want: Stanza{From: juliet, To: gateway, Show: ShowAway, Status: "Auto Status (idle)", Delay: stamp},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("<x>", MaxDepth) + strings.Repeat("</x>", MaxDepth)
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"empty", ``, ErrSyntax},
		{"only whitespace", "  \n", ErrSyntax},
		{"text", `hello`, ErrSyntax},
		{"not closed", `<presence><show>away</show>`, ErrSyntax},
		{"mismatched end", `<presence><show>away</status></presence>`, ErrSyntax},
		{"two stanzas", `<presence/><presence/>`, ErrSyntax},
		{"text after", `<presence/>x`, ErrSyntax},
		{"invalid UTF-8", "<presence><status>\xff</status></presence>", ErrSyntax},
		{"unknown entity", `<presence><status>&nbsp;</status></presence>`, ErrSyntax},
		{"invalid character reference", `<presence><status>&#0;</status></presence>`, ErrSyntax},
		{"DOCTYPE", `<!DOCTYPE presence [<!ENTITY a "aaaa">]><presence><status>&a;</status></presence>`, ErrRestricted},
		{"comment inside", `<presence><!-- hi --></presence>`, ErrRestricted},
		{"comment before", `<!-- hi --><presence/>`, ErrRestricted},
		{"comment after", `<presence/><!-- hi -->`, ErrSyntax},
		{"processing instruction", `<presence><?pi x?></presence>`, ErrRestricted},
		{"XML declaration", `<?xml version='1.0'?><presence/>`, ErrRestricted},
		{"message", `<message xmlns='jabber:client'/>`, ErrNotPresence},
		{"server namespace", `<presence xmlns='jabber:server'/>`, ErrNotPresence},
		{"other namespace", `<presence xmlns='urn:ietf:params:xml:ns:pidf'/>`, ErrNotPresence},
		{"undeclared prefix", `<stream:presence/>`, ErrNotPresence},
		{"unknown type", `<presence type='busy'/>`, ErrType},
		{"type available is no type", `<presence type='available'/>`, ErrType},
		{"bad from", `<presence from='a@b@c'/>`, ErrJID},
		{"empty from", `<presence from=''/>`, ErrJID},
		{"bad to", `<presence to='juliet@/x'/>`, ErrJID},
		{"too large", `<presence><status>` + strings.Repeat("a", MaxStanzaSize) + `</status></presence>`, ErrTooLarge},
		{"too deep", `<presence>` + deep + `</presence>`, ErrTooDeep},
		{"too many", `<presence>` + strings.Repeat("<x/>", MaxElements+1) + `</presence>`, ErrTooMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.raw))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v (stanza %+v)", err, tt.want, got)
			}
			if diff := cmp.Diff(Stanza{}, got); diff != "" {
				t.Errorf("Parse returned a stanza with its error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAtLimits(t *testing.T) {
	atDepth := strings.Repeat("<x>", MaxDepth-1) + strings.Repeat("</x>", MaxDepth-1)
	elements := strings.Repeat("<x/>", MaxElements-1)
	tests := []struct {
		name string
		raw  string
		want Stanza
	}{
		{"deepest allowed", `<presence>` + atDepth + `</presence>`, Stanza{}},
		{"most elements allowed", `<presence>` + elements + `<show>away</show></presence>`, Stanza{Show: ShowAway}},
		{
			name: "largest allowed",
			raw:  `<presence>` + strings.Repeat(" ", MaxStanzaSize-len(`<presence></presence>`)) + `</presence>`,
			want: Stanza{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTruncates(t *testing.T) {
	long := strings.Repeat("é", MaxStatusBytes) // 2 bytes each
	odd := "a" + long                           // the cut falls inside an é
	tests := []struct {
		name string
		raw  string
		want Stanza
	}{
		{
			name: "status at the limit",
			raw:  `<presence><status>` + long[:MaxStatusBytes] + `</status></presence>`,
			want: Stanza{Status: long[:MaxStatusBytes]},
		},
		{
			name: "status cut at a rune boundary",
			raw:  `<presence><status>` + odd + `</status></presence>`,
			want: Stanza{Status: odd[:MaxStatusBytes-1], Quirks: QuirkTruncated},
		},
		{
			name: "error text cut",
			raw:  `<presence type='error'><error><text>` + odd + `</text></error></presence>`,
			want: Stanza{Type: TypeError, Error: StanzaError{Condition: "undefined-condition", Text: odd[:MaxStatusBytes-1]}, Quirks: QuirkTruncated},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.raw))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeFromStream reads stanzas out of a stream the way a connector
// does: the namespace comes from the stream header, not the stanza.
func TestDecodeFromStream(t *testing.T) {
	stream := `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' from='presence.example.com'>` +
		`<presence from='juliet@example.com/balcony'><show>dnd</show></presence>` +
		`<message from='juliet@example.com'><body>hi</body></message>` +
		`<presence from='juliet@example.com/balcony' type='bogus'><show>away</show></presence>` +
		`<presence from='juliet@example.com/balcony' type='unavailable'/>`
	xd := xml.NewDecoder(strings.NewReader(stream))
	var got []Stanza
	badType := 0
	for {
		tok, err := xd.Token()
		if err != nil {
			break // the stream is not closed: io.ErrUnexpectedEOF ends it
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local == "stream" {
			continue
		}
		if start.Name.Local != "presence" {
			if err := xd.Skip(); err != nil {
				t.Fatalf("Skip: %v", err)
			}
			continue
		}
		s, err := Decode(xd, start)
		if errors.Is(err, ErrType) {
			// Only the start element was read: skip the rest, go on.
			badType++
			if err := xd.Skip(); err != nil {
				t.Fatalf("Skip after ErrType: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		got = append(got, s)
	}
	want := []Stanza{
		{From: juliet, Show: ShowDND},
		{From: juliet, Type: TypeUnavailable},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stanzas mismatch (-want +got):\n%s", diff)
	}
	if badType != 1 {
		t.Errorf("%d stanzas failed with ErrType, want 1", badType)
	}
}

// chunks is a token reader that yields more character data than any byte
// limit would let through: Decode must bound it by itself.
type chunks struct{ n int }

func (c *chunks) Token() (xml.Token, error) {
	c.n++
	return xml.CharData(strings.Repeat("a", 1024)), nil
}

func TestDecodeBoundsText(t *testing.T) {
	c := &chunks{}
	_, err := Decode(c, xml.StartElement{Name: xml.Name{Space: NSClient, Local: "presence"}})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode error = %v, want ErrTooLarge", err)
	}
	if want := MaxTextBytes/1024 + 1; c.n != want {
		t.Errorf("Decode read %d tokens, want %d", c.n, want)
	}
}
