package pidf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/internal/status"
)

// readDoc returns a testdata document.
func readDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestParseDocument(t *testing.T) {
	tests := []struct {
		file string
		want Document
	}{
		{"rfc3863.xml", Document{
			Entity: "pres:someone@example.com",
			Notes:  []string{"I'll be in Tokyo next week"},
			Tuples: []Tuple{
				{ID: "bs35r9", Basic: BasicOpen, Contact: "im:someone@mobilecarrier.net", Priority: 0.8,
					Notes:     []string{"Don't Disturb Me!", "Ne derangez pas, s'il vous plait"},
					Timestamp: ts("2001-10-27T16:49:29Z")},
				{ID: "ty4658", Basic: BasicOpen, Contact: "mailto:someone@example.com", Priority: 1},
			},
		}},
		{"rfc4480.xml", Document{
			Entity: "pres:someone@example.com",
			Notes:  []string{"Full state presence document"},
			Tuples: []Tuple{
				{ID: "bs35r9", Basic: BasicOpen, Contact: "im:someone@mobile.example.net", Priority: 0.8,
					Timestamp: ts("2005-05-30T22:00:29Z"), DeviceID: "urn:device:0003ba4811e3"},
				{ID: "ty4658", Basic: BasicOpen, Contact: "mailto:someone@example.com", Priority: 1},
			},
			Persons: []Person{{ID: "p1", Activities: []Activity{{Name: "away"}}, Notes: []string{"Far away"},
				Timestamp: ts("2005-05-30T11:09:44Z"), UserInput: UserInputIdle}},
			Devices: []Device{{ID: "pc122", DeviceID: "urn:device:0003ba4811e3", Notes: []string{"PC"}, UserInput: UserInputIdle}},
		}},
		{"kamailio.xml", Document{
			Entity: "sip:bob@example.org",
			Tuples: []Tuple{
				{ID: "0x7f3a9c", Basic: BasicClosed, Contact: "sip:bob@192.0.2.5:5060", Notes: []string{"Offline"},
					Timestamp: ts("2026-11-23T09:00:00.123Z")},
				{ID: "a1b2c3", Basic: BasicOpen, Contact: "sip:bob@192.0.2.7:5061;transport=tls", Priority: 0.5,
					Notes: []string{"Online"}, Timestamp: ts("2026-11-23T09:30:00Z")},
			},
			Persons: []Person{{ID: "p4711", Timestamp: ts("2026-11-23T09:30:00Z")}},
		}},
		{"nonamespace.xml", Document{
			Entity:  "sip:erin@example.com",
			Tuples:  []Tuple{{ID: "t1", Basic: BasicOpen, Notes: []string{"sloppy"}}},
			Persons: []Person{{ID: "e", Activities: []Activity{{Name: "other", Text: "DND"}}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(readDoc(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePresence(t *testing.T) {
	tests := []struct {
		name string
		body string // used when file is empty
		file string
		want status.Presence
	}{
		{name: "rfc3863 highest priority open tuple, document note", file: "rfc3863.xml",
			want: status.Presence{Availability: status.Available, Note: "I'll be in Tokyo next week"}},
		{name: "rfc4480 person away", file: "rfc4480.xml",
			want: status.Presence{Availability: status.Away, Activity: "Idle", Note: "Far away", Since: ts("2005-05-30T11:09:44Z")}},
		{name: "kamailio aggregate open and closed", file: "kamailio.xml",
			want: status.Presence{Availability: status.Available, Note: "Online", Since: ts("2026-11-23T09:30:00Z")}},
		{name: "sfb person on the phone", file: "sfb.xml",
			want: status.Presence{Availability: status.Busy, Activity: "OnThePhone", Note: "In a call with a customer",
				Since: ts("2026-11-23T10:15:00.5Z")}},
		{name: "other prefixes, decoy namespace ignored", file: "prefixes.xml",
			want: status.Presence{Availability: status.Busy, Activity: "InAMeeting", Since: ts("2026-11-23T11:00:00Z")}},
		{name: "no namespaces, other dnd", file: "nonamespace.xml",
			want: status.Presence{Availability: status.DoNotDisturb, Note: "sloppy"}},
		{name: "empty document is offline",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"/>`,
			want: status.Presence{Availability: status.Offline}},
		{name: "all closed: offline, since newest closed",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b">
<tuple id="a"><status><basic>closed</basic></status><timestamp>2026-01-01T00:00:00Z</timestamp></tuple>
<tuple id="b"><status><basic>closed</basic></status><note>gone</note><timestamp>2026-01-02T00:00:00Z</timestamp></tuple></presence>`,
			want: status.Presence{Availability: status.Offline, Note: "gone", Since: ts("2026-01-02T00:00:00Z")}},
		{name: "equal priority: newest open tuple",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b">
<tuple id="a"><status><basic>open</basic></status><note>old</note><timestamp>2026-01-01T00:00:00Z</timestamp></tuple>
<tuple id="b"><status><basic>open</basic></status><note>new</note><timestamp>2026-01-02T00:00:00Z</timestamp></tuple></presence>`,
			want: status.Presence{Availability: status.Available, Note: "new", Since: ts("2026-01-02T00:00:00Z")}},
		{name: "newest person decides",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b">
<dm:person id="new"><rpid:activities><rpid:lunch/></rpid:activities><dm:timestamp>2026-01-02T12:00:00Z</dm:timestamp></dm:person>
<dm:person id="old"><rpid:activities><rpid:busy/></rpid:activities><dm:note>old</dm:note><dm:timestamp>2026-01-02T08:00:00Z</dm:timestamp></dm:person></presence>`,
			want: status.Presence{Availability: status.BeRightBack, Activity: "Lunch", Since: ts("2026-01-02T12:00:00Z")}},
		{name: "dnd outranks busy, token from other activity",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b">
<dm:person id="p"><rpid:activities><rpid:busy/><rpid:other>Do Not Disturb</rpid:other><rpid:meeting/></rpid:activities></dm:person></presence>`,
			want: status.Presence{Availability: status.DoNotDisturb, Activity: "InAMeeting"}},
		{name: "user-input idle alone gives away",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b">
<tuple id="t"><status><basic>open</basic></status></tuple>
<dm:person id="p"><rpid:user-input>idle</rpid:user-input></dm:person></presence>`,
			want: status.Presence{Availability: status.Away, Activity: "Idle"}},
		{name: "permanent absence is away",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b">
<dm:person id="p"><rpid:activities><rpid:permanent-absence/></rpid:activities></dm:person></presence>`,
			want: status.Presence{Availability: status.Away, Activity: "PermanentAbsence"}},
		{name: "non-deciding activity leaves tuples to decide but gives the token",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b">
<tuple id="t"><status><basic>open</basic></status><note>tuple note</note></tuple>
<dm:person id="p"><rpid:activities><rpid:working/><rpid:unknown/></rpid:activities></dm:person></presence>`,
			want: status.Presence{Availability: status.Available, Activity: "Working", Note: "tuple note"}},
		{name: "rpid in tuple status is parsed but persons decide",
			body: `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b">
<tuple id="t"><status><basic>open</basic><rpid:activities><rpid:busy/></rpid:activities></status></tuple></presence>`,
			want: status.Presence{Availability: status.Available}},
		{name: "latin-1 declared",
			body: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:a@b\"><tuple id=\"t\"><status><basic>open</basic></status><note>caf\xe9</note></tuple></presence>",
			want: status.Presence{Availability: status.Available, Note: "café"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if tt.file != "" {
				body = readDoc(t, tt.file)
			}
			doc, err := Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, doc.Presence()); diff != "" {
				t.Errorf("Presence mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	deep := `<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="t">` +
		strings.Repeat("<x>", MaxDepth) + strings.Repeat("</x>", MaxDepth) + `</tuple></presence>`
	many := `<presence xmlns="urn:ietf:params:xml:ns:pidf">` +
		strings.Repeat(`<tuple id="t"><status><basic>open</basic></status></tuple>`, MaxTuples+1) + `</presence>`
	manyPersons := `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model">` +
		strings.Repeat(`<dm:person id="p"/>`, MaxPersons+1) + `</presence>`
	rfc3863 := string(readDoc(t, "rfc3863.xml"))
	tests := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", ErrNotPIDF},
		{"garbage text", "hello, world", ErrNotPIDF},
		{"binary garbage", "\x00\x01\x02<<>>", ErrSyntax},
		{"truncated", rfc3863[:len(rfc3863)/2], ErrSyntax},
		{"mismatched tags", `<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple></presence>`, ErrSyntax},
		{"invalid utf-8", "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note>\xff\xfe</note></presence>", ErrSyntax},
		{"unsupported charset", `<?xml version="1.0" encoding="EBCDIC"?><presence/>`, ErrSyntax},
		{"wrong root", `<html><body>nope</body></html>`, ErrNotPIDF},
		{"wrong namespace", `<presence xmlns="urn:example:not-pidf"/>`, ErrNotPIDF},
		{"too large", `<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat(" ", MaxBodySize) + `</presence>`, ErrTooLarge},
		{"too deep", deep, ErrTooDeep},
		{"too many tuples", many, ErrTooMany},
		{"too many persons", manyPersons, ErrTooMany},
		{"doctype", `<!DOCTYPE presence><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, ErrDTD},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>` +
			`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&lol2;</note></presence>`, ErrDTD},
		{"xxe declaration", `<!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
			`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&xxe;</note></presence>`, ErrDTD},
		// Without a DOCTYPE an entity reference is simply undefined:
		// encoding/xml never resolves external or custom entities.
		{"undeclared entity", `<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&xxe;</note></presence>`, ErrSyntax},
		{"doctype inside", `<presence xmlns="urn:ietf:params:xml:ns:pidf"><!DOCTYPE x></presence>`, ErrDTD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseLimitsAccepted(t *testing.T) {
	// MaxDepth exactly: presence(1) tuple(2) plus MaxDepth-2 levels.
	n := MaxDepth - 2
	deepOK := `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t">` +
		strings.Repeat("<x>", n) + strings.Repeat("</x>", n) + `<status><basic>open</basic></status></tuple></presence>`
	huge := "a" + strings.Repeat("é", 3000) // 6001 bytes
	hugeNote := `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t"><status><basic>open</basic></status><note>` +
		huge + `</note></tuple></presence>`
	tests := []struct {
		name string
		body string
		want status.Presence
	}{
		{"depth at the limit", deepOK, status.Presence{Availability: status.Available}},
		{"huge note truncated at a rune boundary", hugeNote,
			status.Presence{Availability: status.Available, Note: "a" + strings.Repeat("é", (MaxNoteBytes-1)/2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got := doc.Presence()
			if len(got.Note) > MaxNoteBytes || !utf8.ValidString(got.Note) {
				t.Errorf("note of %d bytes, valid UTF-8 %v", len(got.Note), utf8.ValidString(got.Note))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Presence mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-23T10:00:00Z", ts("2026-11-23T10:00:00Z")},
		{"2026-11-23T10:00:00.123456Z", ts("2026-11-23T10:00:00.123456Z")},
		{" 2026-11-23T11:00:00+01:00\n", ts("2026-11-23T10:00:00Z")},
		{"2026-11-23T11:00:00.5+0100", ts("2026-11-23T10:00:00.5Z")},
		{"2026-11-23t10:00:00z", ts("2026-11-23T10:00:00Z")},
		{"2026-11-23 10:00:00Z", ts("2026-11-23T10:00:00Z")},
		{"2026-11-23T10:00:00", ts("2026-11-23T10:00:00Z")},
		{"2026-11-23T05:00:00-05", ts("2026-11-23T10:00:00Z")},
		{"yesterday", time.Time{}},
		{"", time.Time{}},
		{"2026-13-45T99:00:00Z", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseTime(tt.in)); diff != "" {
				t.Errorf("parseTime(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParsePriority(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"0.8", 0.8}, {"1", 1}, {"1.0", 1}, {" 0.5 ", 0}, {"", 0}, {"2", 0}, {"-0.1", 0}, {"NaN", 0}, {"x", 0},
	}
	for _, tt := range tests {
		if got := parsePriority(tt.in); got != tt.want {
			t.Errorf("parsePriority(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

var buildNow = time.Date(2026, 11, 23, 10, 0, 0, 250_000_000, time.UTC)

func TestBuildRoundTrip(t *testing.T) {
	activities := []string{"", "InAMeeting", "OnThePhone", "Vacation", "Lunch", "Working", "Driving", "Idle", "Coding all day"}
	notes := []string{"", "back at 3", `<script>&"quotes"'</script>`, "multi\nline\tnote ✓"}
	for a := status.Available; a <= status.Offline; a++ {
		for _, act := range activities {
			for _, note := range notes {
				p := status.Presence{Availability: a, Activity: act, Note: note}
				t.Run(a.String()+"/"+act+"/"+note, func(t *testing.T) {
					body, err := Build("sip:alice@example.com", p, "t1", buildNow)
					if err != nil {
						t.Fatal(err)
					}
					doc, err := Parse(body)
					if err != nil {
						t.Fatalf("Parse(Build) = %v\n%s", err, body)
					}
					got := doc.Presence()
					got.Since = time.Time{}
					if diff := cmp.Diff(p, got); diff != "" {
						t.Errorf("round trip mismatch (-want +got):\n%s\n%s", diff, body)
					}
				})
			}
		}
	}
}

func TestBuildDocument(t *testing.T) {
	p := status.Presence{Availability: status.DoNotDisturb, Note: "a & b"}
	body, err := Build("sips:bob@example.org;transport=tls", p, "t1", buildNow)
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sips:bob@example.org;transport=tls">
 <tuple id="t1"><status><basic>open</basic></status><note>a &amp; b</note><timestamp>2026-11-23T10:00:00.25Z</timestamp></tuple>
 <dm:person id="p-t1"><rpid:activities><rpid:busy/><rpid:other>do-not-disturb</rpid:other></rpid:activities><dm:note>a &amp; b</dm:note><dm:timestamp>2026-11-23T10:00:00.25Z</dm:timestamp></dm:person>
</presence>
`
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("Build mismatch (-want +got):\n%s", diff)
	}
	doc, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	wantDoc := Document{
		Entity:  "sips:bob@example.org;transport=tls",
		Tuples:  []Tuple{{ID: "t1", Basic: BasicOpen, Notes: []string{"a & b"}, Timestamp: buildNow}},
		Persons: []Person{{ID: "p-t1", Activities: []Activity{{Name: "busy"}, {Name: "other", Text: "do-not-disturb"}}, Notes: []string{"a & b"}, Timestamp: buildNow}},
	}
	if diff := cmp.Diff(wantDoc, doc); diff != "" {
		t.Errorf("Parse(Build) mismatch (-want +got):\n%s", diff)
	}
}

func TestBuildUnknownAndLongNote(t *testing.T) {
	long := strings.Repeat("ü", MaxNoteBytes) // twice the limit in bytes
	tests := []struct {
		name string
		in   status.Presence
		want status.Presence
	}{
		{"unknown publishes closed", status.Presence{Availability: status.Unknown, Reason: status.BackendError},
			status.Presence{Availability: status.Offline}},
		{"reserved activity text dropped", status.Presence{Availability: status.Busy, Activity: "DND"},
			status.Presence{Availability: status.Busy}},
		{"long note cut", status.Presence{Availability: status.Available, Note: long},
			status.Presence{Availability: status.Available, Note: long[:MaxNoteBytes]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Build("sip:a@example.com", tt.in, "t1", buildNow)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(body)
			if err != nil {
				t.Fatal(err)
			}
			got := doc.Presence()
			got.Since = time.Time{}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	ok := status.Presence{Availability: status.Available}
	tests := []struct {
		name   string
		entity string
		id     string
		p      status.Presence
		want   error
	}{
		{"valid", "SIP:Alice@Example.com", "t1", ok, nil},
		{"percent-encoded", "sip:a%20b@example.com", "_x.1-2", ok, nil},
		{"empty entity", "", "t1", ok, ErrEntity},
		{"pres scheme", "pres:a@example.com", "t1", ok, ErrEntity},
		{"tel scheme", "tel:+15551234", "t1", ok, ErrEntity},
		{"scheme only", "sip:", "t1", ok, ErrEntity},
		{"quote", `sip:a"@example.com`, "t1", ok, ErrEntity},
		{"angle", "sip:a@example.com><x", "t1", ok, ErrEntity},
		{"space", "sip:a b@example.com", "t1", ok, ErrEntity},
		{"newline", "sip:a@example.com\n", "t1", ok, ErrEntity},
		{"non-ascii", "sip:ä@example.com", "t1", ok, ErrEntity},
		{"bad percent", "sip:a%2@example.com", "t1", ok, ErrEntity},
		{"too long", "sip:" + strings.Repeat("a", MaxTokenBytes), "t1", ok, ErrEntity},
		{"empty id", "sip:a@b", "", ok, ErrTupleID},
		{"id starts with digit", "sip:a@b", "1t", ok, ErrTupleID},
		{"id with quote", "sip:a@b", `t"`, ok, ErrTupleID},
		{"id too long", "sip:a@b", strings.Repeat("t", 65), ok, ErrTupleID},
		{"bad availability", "sip:a@b", "t1", status.Presence{Availability: status.Offline + 1}, ErrAvailability},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.entity, tt.p, tt.id, buildNow)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Build error = %v, want %v", err, tt.want)
			}
		})
	}
}

// sentinels are every error Parse may wrap.
var sentinels = []error{ErrTooLarge, ErrTooDeep, ErrTooMany, ErrDTD, ErrSyntax, ErrNotPIDF}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"rfc3863.xml", "rfc4480.xml", "kamailio.xml", "sfb.xml", "prefixes.xml", "nonamespace.xml"} {
		f.Add(readDoc(f, name))
	}
	f.Add([]byte(`<!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><presence/>`))
	f.Add([]byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"/>`))
	f.Add([]byte(benchBody))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, err := Parse(body)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Parse error %v wraps no sentinel", err)
		}
		p := doc.Presence()
		if p.Availability == status.Unknown {
			t.Fatalf("Presence() = Unknown")
		}
		if len(p.Note) > MaxNoteBytes || !utf8.ValidString(p.Note) {
			t.Fatalf("bad note %q", p.Note)
		}
		if checkEntity(doc.Entity) != nil {
			return
		}
		out, err := Build(doc.Entity, p, "t1", buildNow)
		if err != nil {
			t.Fatalf("Build of a parsed document: %v", err)
		}
		doc2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Build) = %v\n%s", err, out)
		}
		p2 := doc2.Presence()
		if p2.Availability != p.Availability || p2.Activity != p.Activity || p2.Note != p.Note {
			t.Fatalf("round trip changed %+v to %+v\n%s", p, p2, out)
		}
	})
}

// benchBody is a typical NOTIFY body: two tuples and a person.
const benchBody = `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:c="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:alice.smith@example.com">
  <tuple id="a8098a.0">
    <status><basic>open</basic></status>
    <dm:deviceID>urn:uuid:6d4e0c4e-6b0a-4c2d-9a4d-3c3c1a0b7f11</dm:deviceID>
    <rpid:service-class><rpid:electronic/></rpid:service-class>
    <contact priority="0.8">sip:alice.smith@192.0.2.10:5061;transport=tls;ob</contact>
    <note xml:lang="en">Desk phone</note>
    <timestamp>2026-11-23T09:58:12.345+01:00</timestamp>
  </tuple>
  <tuple id="b77e21.1">
    <status><basic>closed</basic></status>
    <dm:deviceID>urn:uuid:0f6d3a0e-1c9b-4e8e-8b3a-2b2c9e8d7a66</dm:deviceID>
    <contact priority="0.5">sip:alice.smith@198.51.100.20:5060;transport=udp</contact>
    <note xml:lang="en">Mobile</note>
    <timestamp>2026-11-23T08:12:00Z</timestamp>
  </tuple>
  <dm:person id="p-alice">
    <rpid:activities>
      <rpid:busy/>
      <rpid:meeting/>
    </rpid:activities>
    <rpid:user-input idle-threshold="600" last-input="2026-11-23T09:55:00Z">active</rpid:user-input>
    <rpid:place-type><rpid:office/></rpid:place-type>
    <c:display-name>Alice Smith</c:display-name>
    <dm:note xml:lang="en">In the quarterly review until 11:00, ping me on chat</dm:note>
    <dm:timestamp>2026-11-23T10:00:00Z</dm:timestamp>
  </dm:person>
  <dm:device id="d-desk">
    <rpid:user-input>active</rpid:user-input>
    <dm:deviceID>urn:uuid:6d4e0c4e-6b0a-4c2d-9a4d-3c3c1a0b7f11</dm:deviceID>
    <dm:timestamp>2026-11-23T09:58:12Z</dm:timestamp>
  </dm:device>
</presence>
`

func BenchmarkParse(b *testing.B) {
	body := []byte(benchBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		doc, err := Parse(body)
		if err != nil {
			b.Fatal(err)
		}
		if doc.Presence().Availability != status.Busy {
			b.Fatal("wrong availability")
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	p := status.Presence{Availability: status.Busy, Activity: "InAMeeting", Note: "In the quarterly review until 11:00"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build("sip:alice.smith@example.com", p, "a8098a", buildNow); err != nil {
			b.Fatal(err)
		}
	}
}
