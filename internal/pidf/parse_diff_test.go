package pidf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/internal/status"
)

// sentinelOf returns the sentinel err wraps, or err itself when it wraps
// none (which FuzzParse reports as a bug).
func sentinelOf(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// checkMatchesReference fails t unless Parse and refParse agree on body:
// equal Documents, or errors wrapping the same sentinel.
func checkMatchesReference(t *testing.T, body []byte) {
	t.Helper()
	got, err := Parse(body)
	want, refErr := refParse(body)
	switch {
	case err == nil && refErr == nil:
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Parse and refParse disagree (-ref +Parse):\n%s\nbody: %q", diff, body)
		}
	case err != nil && refErr != nil:
		if sentinelOf(err) != sentinelOf(refErr) {
			t.Fatalf("Parse error %v, refParse error %v\nbody: %q", err, refErr, body)
		}
	default:
		t.Fatalf("Parse error %v, refParse error %v\nbody: %q", err, refErr, body)
	}
}

const (
	nsDecls = `xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"`
	// person is a dm:person to embed in variants.
	person = `<dm:person id="p"><rpid:activities><rpid:busy/><rpid:other>x</rpid:other></rpid:activities><dm:note>n</dm:note><dm:timestamp>2026-01-02T12:00:00Z</dm:timestamp></dm:person>`
)

// diffBodies are hand-written inputs for the corners of XML and of the
// package's leniency; they seed FuzzParseMatchesReference and are checked
// by TestParseMatchesReference.
var diffBodies = []string{
	// Namespaces: prefixes, default namespace, scoping, redeclaration.
	`<presence ` + nsDecls + ` entity="sip:a@b">` + person + `</presence>`,
	`<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf"><p:tuple id="t"><p:status><p:basic>open</p:basic></p:status></p:tuple></p:presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple xmlns="urn:x" id="t"><status><basic>open</basic></status></tuple></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple xmlns="" id="t"><status><basic>open</basic></status></tuple></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:p=""><p:tuple p:id="x" id="t"/></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:x" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"><dm:person id="p"/></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><x xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"/><dm:person id="p"/></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><dm:person id="p"/><q:tuple id="u"/></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid"><r:tuple id="t"/><dm:person xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" id="p"><r:activities><xmlns/><r:note>a</r:note><note>b</note><x:y/><r:meeting/></r:activities></dm:person></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:xml="urn:ietf:params:xml:ns:pidf"><xml:tuple id="t"/><xmlns:tuple id="u"/><tuple xml:id="v" xmlns:id="w" id="z"/></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><a:b:c/></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><:tuple id="t"/><tuple: id="u"/></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><p:tuple xmlns:p="urn:ietf:params:xml:ns:pidf"></q:tuple></presence>`,
	manyNamespaces(),
	// Entities, character references, CDATA, comments, PIs.
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:&lt;a&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;"><note>&#xD800;&#9;&#13;x&#x0000041;</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&#0;</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&#xFFFE;</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&#X41;</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&#99999999999999999999;</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&#;&#x;</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>& amp;</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&amp</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>a]]>b</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>a]]&gt;b]&#93;>c</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a]]>b"/>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note><![CDATA[ <b>&amp;</b> ]]]]><![CDATA[>]]> x </note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note><![CDATA[x]]></note><note><![cdata[x]]></note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>a<!-- c -->b<?pi x?>c<x>skipped</x>d</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><!-- a -- b --></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><!----><!---x--><!-->--></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><!-x--></presence>`,
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note>a\r\nb\rc\r\r\nd</note><tuple id=\"\r\n\rt\r\"/></presence>",
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note><![CDATA[a\r\nb\r]]></note></presence>",
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note>\u00a0 tab\tand nbsp \u2003</note></presence>",
	// XML declarations and charsets.
	`<?xml version="1.0" encoding="utf-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	`<?xml version="1.1"?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	`<?xml version='1.0' encoding='US-ASCII' standalone='yes'?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	"<?xml version=\"1.0\" encoding=\"latin1\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"\xe9\"><note>\xff</note></presence>",
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><?xml encoding=\"iso-8859-1\"?><note>\xe9</note></presence>",
	"<?xml version=\"1.0\" encoding=\"latin1\"?><?xml encoding=\"UTF-8\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note>\xe9</note></presence>",
	`<?xml version="1.0" encoding="EBCDIC"?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	`<?xml encoding=x encoding="ascii"?><?xml version=1.0?><?XML encoding="bogus"?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	`<?xml?><?x:y:z?><?é·?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	`<? x?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	"\ufeff<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>",
	// Markup declarations.
	`<!DOCTYPE presence [<!ENTITY a "<!-- > -->" > <!ELEMENT x (#PCDATA)>]><presence/>`,
	`<!DOCTYPE x '>'`,
	`<!x<!-y>`,
	`<!>`,
	// Syntax corners.
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity='sip:a@b'id="x"/>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity=sip:a@b/>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity/>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="<"/>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="t"></tuple ></presence >trailing <garbage`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"></presence x>`,
	`</x><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	`text before <presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><1x/></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><é/><x·y/><a.b-c_d/><:/></presence>`,
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><x\xff/></presence>",
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note>\x01</note></presence>",
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note>\xed\xa0\x80</note></presence>",
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note>\uffff</note></presence>",
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><!-- \xff --><?pi \x01?></presence>",
	// Values: case, trimming, priorities, timestamps, limits.
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" ` + nsDecls[len(`xmlns="urn:ietf:params:xml:ns:pidf" `):] + `><tuple id=" t "><status><basic> OPEN </basic><basic>bogus</basic><rpid:user-input>İDLE</rpid:user-input></status><contact priority=" 0.5 ">c</contact><contact priority="1e-1">d</contact><timestamp>2026-11-23 10:00:00z</timestamp></tuple></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="t"><status><basic>cloſed</basic></status><contact priority="0x1p-1">c</contact><timestamp>2026-02-30T10:00:00Z</timestamp></tuple></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="t"><contact priority="0.3"><x>a</x>b<![CDATA[c]]></contact></tuple></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>` + strings.Repeat(" ", 1101) + strings.Repeat("é", 600) + `</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>` + strings.Repeat("€", 500) + `</note><note>` + strings.Repeat(" ", 3000) + `x</note></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="` + strings.Repeat("ü", 200) + `"><tuple id="t"><contact>` + strings.Repeat("a", 300) + `</contact></tuple></presence>`,
	`<presence ` + nsDecls + `><dm:person><rpid:activities>` + strings.Repeat("<rpid:"+strings.Repeat("x", 300)+"/>", 2) + strings.Repeat("<rpid:away/>", MaxActivities) + `</rpid:activities></dm:person></presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat("<note>n</note>", MaxNotes+2) + `</presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat("<x>", MaxDepth-1) + strings.Repeat("</x>", MaxDepth-1) + `</presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat("<x>", MaxDepth-1) + `<y/>` + strings.Repeat("</x>", MaxDepth-1) + `</presence>`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat("<x>", MaxDepth) + `<y`,
	`<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat(`<tuple/>`, MaxTuples) + `<tuple><`,
}

// manyNamespaces returns a document with more namespace declarations in
// scope than namespaces searches without an index, shadowed and restored.
func manyNamespaces() string {
	decls := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, ` xmlns:n%d="urn:x:%d"`, i, i)
		}
		return b.String()
	}
	return `<presence ` + nsDecls + decls(indexFrom-4) + `>` +
		`<dm:person id="a"/>` +
		`<tuple id="t1" xmlns:dm="urn:decoy" xmlns:n20="urn:ietf:params:xml:ns:pidf:data-model"` + decls(12) + `>` +
		`<n3:deviceID>decoy</n3:deviceID><n20:deviceID>real</n20:deviceID><dm:deviceID>decoy</dm:deviceID>` +
		`<status xmlns:p="urn:ietf:params:xml:ns:pidf"><p:basic>open</p:basic><n9:basic>closed</n9:basic></status></tuple>` +
		`<tuple id="t2"><n3:deviceID>decoy</n3:deviceID><dm:deviceID>real</dm:deviceID><p:note>decoy</p:note></tuple>` +
		`<dm:person id="d"/><n20:person id="decoy"/><n50:person id="undeclared"/><tuple n1:id="q" id="t3"/></presence>`
}

// diffSeeds returns every body of diffBodies and the test documents,
// plus truncations of the documents.
func diffSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, b := range diffBodies {
		seeds = append(seeds, []byte(b))
	}
	for _, name := range []string{"rfc3863.xml", "rfc4480.xml", "kamailio.xml", "sfb.xml", "prefixes.xml", "nonamespace.xml"} {
		doc := readDoc(t, name)
		seeds = append(seeds, doc)
		for _, n := range []int{1, 2, 7, len(doc) / 3, len(doc) / 2, len(doc) - 12, len(doc) - 2} {
			seeds = append(seeds, doc[:n])
		}
	}
	return append(seeds, []byte(benchBody), []byte(strings.ReplaceAll(benchBody, "\n", "\r\n")))
}

func TestParseMatchesReference(t *testing.T) {
	for i, body := range diffSeeds(t) {
		t.Run(strings.ReplaceAll(truncate(string(body), 40), "/", "_")+"#"+string(rune('a'+i%26)), func(t *testing.T) {
			checkMatchesReference(t, body)
		})
	}
}

// FuzzParseMatchesReference checks that the hand-written Parse and the
// encoding/xml parser it replaced agree on every input.
func FuzzParseMatchesReference(f *testing.F) {
	for _, b := range diffSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(checkMatchesReference)
}

// TestParseTextCutAtRuneBoundary documents the one behaviour the scanner
// changed, in both parsers: text is collected up to 2*limit+64 bytes
// before trimming, and the cut used to fall anywhere, so that a note
// after much leading white space could end in half a character.
func TestParseTextCutAtRuneBoundary(t *testing.T) {
	body := `<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>` + strings.Repeat(" ", 1101) + strings.Repeat("é", 600) + `</note></presence>`
	for name, parse := range map[string]func([]byte) (Document, error){"Parse": Parse, "refParse": refParse} {
		doc, err := parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Repeat("é", (2*MaxNoteBytes+64-1101)/2)
		if diff := cmp.Diff([]string{want}, doc.Notes); diff != "" || !utf8.ValidString(doc.Notes[0]) {
			t.Errorf("%s notes mismatch (-want +got):\n%s", name, diff)
		}
	}
}

// TestParseConcurrent runs Parse from several goroutines at once (the
// parsers are pooled) and checks every result; run it with -race.
func TestParseConcurrent(t *testing.T) {
	bodies := diffSeeds(t)
	type result struct {
		doc Document
		err error
	}
	want := make([]result, len(bodies))
	for i, b := range bodies {
		want[i].doc, want[i].err = Parse(b)
	}
	const workers = 4
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for round := range 20 {
				i := (w*7 + round*13) % len(bodies)
				doc, err := Parse(bodies[i])
				if diff := cmp.Diff(want[i].doc, doc); diff != "" || sentinelOf(err) != sentinelOf(want[i].err) {
					errs <- fmt.Errorf("body %d: error %v, want %v; diff (-want +got):\n%s", i, err, want[i].err, diff)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkParseReference is BenchmarkParse with the encoding/xml parser
// Parse replaced, for comparison.
func BenchmarkParseReference(b *testing.B) {
	body := []byte(benchBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		doc, err := refParse(body)
		if err != nil {
			b.Fatal(err)
		}
		if doc.Presence().Availability != status.Busy {
			b.Fatal("wrong availability")
		}
	}
}

// TestParseOneEncodingDeclaration documents the other change, in both
// parsers: encoding/xml honours an encoding declaration wherever it
// appears, and each one converted the rest of the body again from
// latin-1, decoding text twice and taking quadratic time over a body
// made of declarations. A second declaration of an encoding other than
// UTF-8 is now ErrSyntax.
func TestParseOneEncodingDeclaration(t *testing.T) {
	const root = "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><note>caf\xe9</note></presence>"
	tests := []struct {
		name string
		body string
		want error
	}{
		{"one", `<?xml version="1.0" encoding="ISO-8859-1"?>` + root, nil},
		{"latin-1 twice", `<?xml encoding="latin1"?><?xml encoding="latin1"?>` + root, ErrSyntax},
		{"ascii then latin-1", `<?xml encoding="us-ascii"?><?xml encoding="latin1"?>` + root, ErrSyntax},
		{"bomb", strings.Repeat(`<?xml encoding="latin1"?>`, 2000) + root, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, parse := range map[string]func([]byte) (Document, error){"Parse": Parse, "refParse": refParse} {
				doc, err := parse([]byte(tt.body))
				if !errors.Is(err, tt.want) {
					t.Fatalf("%s error = %v, want %v", name, err, tt.want)
				}
				if err == nil && !cmp.Equal(doc.Notes, []string{"café"}) {
					t.Errorf("%s notes = %q, want café", name, doc.Notes)
				}
			}
		})
	}
}

// BenchmarkParseHostile measures Parse and refParse on bodies of
// MaxBodySize built to make a parser work hard, to show that none takes
// more than linear time.
func BenchmarkParseHostile(b *testing.B) {
	const head = `<presence xmlns:p="urn:ietf:params:xml:ns:pidf">`
	fill := func(unit string) string {
		return head + strings.Repeat(unit, (MaxBodySize-len(head)-20)/len(unit)) + "</presence>"
	}
	var decls strings.Builder
	for i := range 2500 {
		fmt.Fprintf(&decls, ` xmlns:a%d="b"`, i)
	}
	manyDecls := `<presence xmlns:p="urn:ietf:params:xml:ns:pidf"` + decls.String() + `>`
	manyDecls += strings.Repeat("<p:x/>", (MaxBodySize-len(manyDecls)-20)/6) + "</presence>"
	bodies := []struct{ name, body string }{
		{"elements", fill("<x><y/></x>")},
		{"non-ASCII names", fill("<é/>")},
		{"references", head + "<note>" + strings.Repeat("&amp;", (MaxBodySize-100)/5) + "</note></presence>"},
		{"attributes", head + "<tuple " + strings.Repeat(`a="b" `, (MaxBodySize-100)/6) + "/></presence>"},
		{"namespace declarations", manyDecls},
	}
	for _, tt := range bodies {
		for name, parse := range map[string]func([]byte) (Document, error){"Parse": Parse, "refParse": refParse} {
			b.Run(tt.name+"/"+name, func(b *testing.B) {
				body := []byte(tt.body)
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if _, err := parse(body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
