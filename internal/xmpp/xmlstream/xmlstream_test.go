package xmlstream

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// readTop reads the top-level elements after the first start tag (the
// stream header) and returns their bytes, the names of their inner
// tokens, and the error that ended the read.
func readTop(t *testing.T, in string, limit int) (raws, inner []string, err error) {
	t.Helper()
	return readTopFrom(t, strings.NewReader(in), limit)
}

func readTopFrom(t *testing.T, src io.Reader, limit int) (raws, inner []string, err error) {
	t.Helper()
	r := NewReader(src, limit)
	for header := true; ; {
		from := r.Mark()
		tok, err := r.Token()
		if err != nil {
			return raws, inner, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			if _, end := tok.(xml.EndElement); end {
				return raws, inner, nil
			}
			continue
		}
		if header {
			header = false
			continue
		}
		err = r.Element(func(tok xml.Token) error {
			switch t := tok.(type) {
			case xml.StartElement:
				inner = append(inner, "<"+t.Name.Local)
			case xml.EndElement:
				inner = append(inner, "/"+t.Name.Local)
			case xml.Comment:
				return errComment
			}
			return nil
		})
		if err != nil {
			return raws, inner, err
		}
		raws = append(raws, start.Name.Local+"="+string(r.Bytes(from)))
	}
}

var errComment = errors.New("comment in an element")

func TestReader(t *testing.T) {
	const head = "<?xml version='1.0'?><s xmlns='urn:x'>"
	tests := []struct {
		name      string
		in        string
		limit     int
		wantRaws  []string
		wantInner []string
		wantErr   error
	}{
		{
			name:      "elements as received",
			in:        head + " <a k=\"1\"><b>t &amp; &#x263A;</b></a>\n<c/></s>",
			limit:     100,
			wantRaws:  []string{`a=<a k="1"><b>t &amp; &#x263A;</b></a>`, "c=<c/>"},
			wantInner: []string{"<b", "/b", "/a", "/c"},
		},
		{
			name:     "element at the limit",
			in:       head + "<a>" + strings.Repeat("x", 33) + "</a></s>",
			limit:    40,
			wantRaws: []string{"a=<a>" + strings.Repeat("x", 33) + "</a>"}, wantInner: []string{"/a"},
		},
		{
			name:      "element over the limit",
			in:        head + "<a/><a>" + strings.Repeat("x", 34) + "</a></s>",
			limit:     40,
			wantRaws:  []string{"a=<a/>"},
			wantInner: []string{"/a"},
			wantErr:   ErrTooLarge,
		},
		{
			name:    "end inside an element",
			in:      head + "<a><b",
			limit:   100,
			wantErr: io.EOF,
		},
		{
			name:    "end between elements",
			in:      head,
			limit:   100,
			wantErr: io.EOF,
		},
		{
			name:    "error of each",
			in:      head + "<a><!-- c --></a>",
			limit:   100,
			wantErr: errComment,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raws, inner, err := readTop(t, tt.in, tt.limit)
			if diff := cmp.Diff(tt.wantRaws, raws); diff != "" {
				t.Errorf("elements (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantInner, inner); diff != "" {
				t.Errorf("inner tokens (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestReaderSyntaxError(t *testing.T) {
	_, _, err := readTop(t, "<s><a></b></s>", 100)
	var syn *xml.SyntaxError
	if !errors.As(err, &syn) {
		t.Errorf("error = %v, want an *xml.SyntaxError", err)
	}
}

// TestReaderSourceError checks that a failed read of the source is
// reported as itself, not as the decoder's syntax error.
func TestReaderSourceError(t *testing.T) {
	errBroken := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("<s><a><b>"), iotest.ErrReader(errBroken))
	_, _, err := readTopFrom(t, src, 100)
	if !errors.Is(err, errBroken) {
		t.Errorf("error = %v, want %v", err, errBroken)
	}
}

// FuzzReader checks that no input crashes the Reader and that every
// element it cuts out is part of the input and within the limit.
func FuzzReader(f *testing.F) {
	f.Add("<a k='v'><b>text</b></a> <c/></s>")
	f.Add("<a><!-- c --></a>")
	f.Add("<a>&amp;&#x263A;</b>")
	const limit = 64
	f.Fuzz(func(t *testing.T, body string) {
		raws, _, _ := readTop(t, "<s>"+body, limit)
		for _, raw := range raws {
			_, raw, _ = strings.Cut(raw, "=")
			if len(raw) > limit {
				t.Fatalf("element of %d bytes", len(raw))
			}
			if !strings.Contains(body, raw) {
				t.Fatalf("element %q is not part of the input", raw)
			}
		}
	})
}
