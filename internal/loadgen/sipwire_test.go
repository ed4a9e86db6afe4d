package loadgen

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// wireMessage is what the test compares of a sipMessage.
type wireMessage struct {
	Start   [3]string
	Headers [][2]string
	Body    string
}

func wireOf(m *sipMessage) wireMessage {
	w := wireMessage{Start: [3]string{string(m.start[0]), string(m.start[1]), string(m.start[2])}, Body: string(m.body)}
	for _, h := range m.headers {
		w.Headers = append(w.Headers, [2]string{string(h.name), string(h.value)})
	}
	return w
}

func TestReadSIPMessage(t *testing.T) {
	notify := "NOTIFY sip:w@127.0.0.1:5555;transport=tcp SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKr.7\r\n" +
		"Call-ID: c1\r\nContent-Length: 5\r\n\r\nhello"
	tests := []struct {
		name    string
		stream  string
		want    []wireMessage
		wantErr error // of the read after the messages wanted
	}{
		{
			name: "request with body, then a response",
			stream: notify + "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKr.7\r\n" +
				"Content-Length: 0\r\n\r\n",
			want: []wireMessage{
				{Start: [3]string{"NOTIFY", "sip:w@127.0.0.1:5555;transport=tcp", "SIP/2.0"},
					Headers: [][2]string{{"Via", "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKr.7"}, {"Call-ID", "c1"}, {"Content-Length", "5"}},
					Body:    "hello"},
				{Start: [3]string{"SIP/2.0", "200", "OK"},
					Headers: [][2]string{{"Via", "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKr.7"}, {"Content-Length", "0"}}},
			},
			wantErr: io.EOF,
		},
		{
			name:   "keep-alives, compact names, folding, blanks around colons",
			stream: "\r\n\r\n\r\nSIP/2.0 481 Call Does Not Exist\r\nv : SIP/2.0/TCP h;branch=b\r\ni:x\r\nSubject: one\r\n  two\r\n\ttwo more \r\nl: 0\r\n\r\n\r\n",
			want: []wireMessage{{Start: [3]string{"SIP/2.0", "481", "Call Does Not Exist"},
				Headers: [][2]string{{"Via", "SIP/2.0/TCP h;branch=b"}, {"Call-ID", "x"}, {"Subject", "one two two more"}, {"Content-Length", "0"}}}},
			wantErr: io.EOF,
		},
		{
			name:    "bare LF line ends",
			stream:  "OPTIONS sip:x SIP/2.0\nContent-Length: 2\n\nab",
			want:    []wireMessage{{Start: [3]string{"OPTIONS", "sip:x", "SIP/2.0"}, Headers: [][2]string{{"Content-Length", "2"}}, Body: "ab"}},
			wantErr: io.EOF,
		},
		{name: "no Content-Length", stream: "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n", wantErr: errSIPFraming},
		{name: "bad Content-Length", stream: "OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n", wantErr: errSIPFraming},
		{name: "body too large", stream: "OPTIONS sip:x SIP/2.0\r\nContent-Length: 70000\r\n\r\n", wantErr: errSIPFraming},
		{name: "body cut short", stream: "OPTIONS sip:x SIP/2.0\r\nContent-Length: 9\r\n\r\nabc", wantErr: errSIPFraming},
		{name: "stream ends in the header", stream: "OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n", wantErr: errSIPFraming},
		{name: "header without a colon", stream: "OPTIONS sip:x SIP/2.0\r\nCall-ID a\r\nl: 0\r\n\r\n", wantErr: errSIPFraming},
		{name: "continuation first", stream: "OPTIONS sip:x SIP/2.0\r\n folded\r\nl: 0\r\n\r\n", wantErr: errSIPFraming},
		{name: "bad request line", stream: "OPTIONS sip:x HTTP/1.1\r\nl: 0\r\n\r\n", wantErr: errSIPFraming},
		{name: "bad status", stream: "SIP/2.0 2000 OK\r\nl: 0\r\n\r\n", wantErr: errSIPFraming},
		{name: "start line of one word", stream: "HELLO\r\nl: 0\r\n\r\n", wantErr: errSIPFraming},
		{name: "line longer than the buffer", stream: "OPTIONS sip:x SIP/2.0\r\nX: " + strings.Repeat("a", 5000) + "\r\nl: 0\r\n\r\n", wantErr: errSIPFraming},
		{name: "too many header fields", stream: "OPTIONS sip:x SIP/2.0\r\n" + strings.Repeat("X: y\r\n", sipMaxHeaders+1) + "l: 0\r\n\r\n", wantErr: errSIPFraming},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.stream), 4096)
			var m sipMessage
			var got []wireMessage
			for range tt.want {
				if err := readSIPMessage(br, &m); err != nil {
					t.Fatalf("message %d: %v", len(got)+1, err)
				}
				got = append(got, wireOf(&m))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if err := readSIPMessage(br, &m); !errors.Is(err, tt.wantErr) {
				t.Errorf("last read: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSIPHeaderValues(t *testing.T) {
	type param struct {
		Value string
		OK    bool
	}
	params := []struct {
		value, name string
		want        param
	}{
		{"<sip:a@b;tag=inuri>;tag=abc;expires=5", "tag", param{"abc", true}},
		{"<sip:a@b;tag=inuri>", "tag", param{"", false}},
		{"sip:a@b ; TAG = x1", "tag", param{"x1", true}},
		{"SIP/2.0/TCP 1.2.3.4:5;rport;branch=z9hG4bK1, SIP/2.0/TCP 5.6.7.8;branch=z9hG4bK2", "branch", param{"z9hG4bK1", true}},
		{"SIP/2.0/TCP h;rport", "rport", param{"", true}},
		{"active;expires=600", "expires", param{"600", true}},
		{"", "tag", param{"", false}},
	}
	for _, p := range params {
		v, ok := sipParam([]byte(p.value), p.name)
		if diff := cmp.Diff(p.want, param{string(v), ok}); diff != "" {
			t.Errorf("sipParam(%q, %q) (-want +got):\n%s", p.value, p.name, diff)
		}
	}
	uris := map[string]string{
		`"Bob" <sip:bob@x;transport=tcp>;tag=1`: "sip:bob@x;transport=tcp",
		"<sip:a@b>":                             "sip:a@b",
		"sip:a@b;tag=1":                         "sip:a@b",
		" sip:a@b ":                             "sip:a@b",
		"<sip:a@b":                              "",
	}
	for in, want := range uris {
		if got := string(sipAddrURI([]byte(in))); got != want {
			t.Errorf("sipAddrURI(%q) = %q, want %q", in, got, want)
		}
	}
	type cseq struct {
		N      uint32
		Method string
		OK     bool
	}
	for in, want := range map[string]cseq{
		"12 NOTIFY": {12, "NOTIFY", true}, " 1  SUBSCRIBE ": {1, "SUBSCRIBE", true},
		"x NOTIFY": {0, "", false}, "12": {0, "", false}, "4294967296 NOTIFY": {0, "", false},
	} {
		n, method, ok := sipCSeq([]byte(in))
		if diff := cmp.Diff(want, cseq{n, string(method), ok}); diff != "" {
			t.Errorf("sipCSeq(%q) (-want +got):\n%s", in, diff)
		}
	}
}
