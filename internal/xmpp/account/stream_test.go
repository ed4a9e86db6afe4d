package account

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' version='1.0'>"

// readAll reads every element after the header and the error that ended
// the stream.
func readAll(t *testing.T, stream string) ([]string, error) {
	t.Helper()
	r := newReader(strings.NewReader(stream))
	if _, err := r.header(); err != nil {
		return nil, err
	}
	var raws []string
	for {
		el, err := r.next()
		if err != nil {
			return raws, err
		}
		raws = append(raws, string(el.raw))
	}
}

func TestReaderRaw(t *testing.T) {
	big := "<presence from='a@b/c'><status>" + strings.Repeat("x", MaxStanzaSize) + "</status></presence>"
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr error
	}{
		{
			name:    "stanzas with whitespace keepalives",
			body:    " \n<presence from='a@b/c'><show>away</show></presence>\n\n<iq type='result' id='1'/> </stream:stream>",
			want:    []string{"<presence from='a@b/c'><show>away</show></presence>", "<iq type='result' id='1'/>"},
			wantErr: errStreamClosed,
		},
		{
			name:    "bytes kept as received",
			body:    `<presence from="a@b/c"><status>a &amp; b &#x263A;</status><c xmlns="http://jabber.org/protocol/caps" ver="1"/></presence>`,
			want:    []string{`<presence from="a@b/c"><status>a &amp; b &#x263A;</status><c xmlns="http://jabber.org/protocol/caps" ver="1"/></presence>`},
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "too large",
			body:    "<presence/>" + big,
			want:    []string{"<presence/>"},
			wantErr: ErrStanzaTooLarge,
		},
		{
			name:    "endless whitespace",
			body:    strings.Repeat(" ", MaxStanzaSize+1),
			wantErr: ErrStanzaTooLarge,
		},
		{
			name:    "comment",
			body:    "<presence/><!-- no -->",
			want:    []string{"<presence/>"},
			wantErr: ErrProtocol,
		},
		{
			name:    "not well-formed",
			body:    "<presence></iq>",
			wantErr: ErrProtocol,
		},
		{
			name:    "text between stanzas",
			body:    "hello<presence/>",
			wantErr: ErrProtocol,
		},
		{
			name:    "stream error",
			body:    "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text></stream:error>",
			wantErr: &StreamError{Condition: "conflict", Text: "replaced"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, testHeader+tt.body)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("elements (-want +got):\n%s", diff)
			}
			var se *StreamError
			if want, ok := tt.wantErr.(*StreamError); ok {
				if !errors.As(err, &se) || *se != *want {
					t.Errorf("error = %v, want %v", err, want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// FuzzReader checks that no input crashes the reader or makes it return
// an element over the limit or one that is not the exact input text.
func FuzzReader(f *testing.F) {
	f.Add("<presence from='a@b/c'><show>away</show></presence>")
	f.Add("<iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='x@y' subscription='remove'/></query></iq>")
	f.Add("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
	f.Add(" <a><b/></a></stream:stream>")
	f.Fuzz(func(t *testing.T, body string) {
		raws, _ := readAll(t, testHeader+body)
		for _, raw := range raws {
			if len(raw) > MaxStanzaSize {
				t.Fatalf("element of %d bytes", len(raw))
			}
			if !strings.Contains(body, raw) {
				t.Fatalf("element %q is not part of the input", raw)
			}
		}
	})
}
