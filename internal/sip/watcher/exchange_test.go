package watcher

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/sip/locate"
)

func response(code int, headers ...sip.Header) *sip.Response {
	res := sip.NewResponse(code, "X")
	for _, h := range headers {
		res.AppendHeader(h)
	}
	return res
}

func contact(uri string) *sip.ContactHeader {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		panic(err)
	}
	return &sip.ContactHeader{Address: u}
}

func TestRedirectTarget(t *testing.T) {
	cur := locate.Target{Addr: "director:5061", Transport: locate.TLS}
	tests := []struct {
		name   string
		res    *sip.Response
		want   locate.Target
		wantOK bool
	}{
		{"tcp with port", response(302, contact("sip:bob@10.0.0.5:5070;transport=tcp")), locate.Target{Addr: "10.0.0.5:5070", Transport: locate.TCP}, true},
		{"tls without port", response(301, contact("sip:bob@pool2.example.com;transport=TLS")), locate.Target{Addr: "pool2.example.com:5061", Transport: locate.TLS}, true},
		{"sips scheme", response(302, contact("sips:bob@pool3.example.com")), locate.Target{Addr: "pool3.example.com:5061", Transport: locate.TLS}, true},
		{"no transport: the current one", response(302, contact("sip:bob@pool4.example.com:5065")), locate.Target{Addr: "pool4.example.com:5065", Transport: locate.TLS}, true},
		{"udp is not ours", response(302, contact("sip:bob@pool5.example.com;transport=udp")), locate.Target{}, false},
		{"no contact", response(302), locate.Target{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := redirectTarget(tt.res, cur)
			if diff := cmp.Diff(tt.want, got); diff != "" || ok != tt.wantOK {
				t.Errorf("redirectTarget = %v, %v, want ok %v (-want +got):\n%s", got, ok, tt.wantOK, diff)
			}
		})
	}
}

func TestStatusErrorRetryAfter(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"18000;duration=3600", 5 * time.Hour},
		{" 5 (maintenance)", 5 * time.Second},
		{"soon", 0},
	}
	for _, tt := range tests {
		res := response(503)
		if tt.header != "" {
			res.AppendHeader(sip.NewHeader("Retry-After", tt.header))
		}
		if got := statusError("SUBSCRIBE", res).RetryAfter; got != tt.want {
			t.Errorf("Retry-After %q: %v, want %v", tt.header, got, tt.want)
		}
	}
}
