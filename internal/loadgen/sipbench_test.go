package loadgen

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseArgsNotify(t *testing.T) {
	base := func() Config {
		c := defaults(Notify)
		c.Target, c.Admin, c.AdminToken = mustURL(t, "http://127.0.0.1:8080"), mustURL(t, "http://127.0.0.1:8081"), "pcd_x"
		c.Watchers, c.Contacts = 1, 1000
		return c
	}
	tests := []struct {
		name string
		args []string
		want func() Config
	}{
		{"defaults", args("notify"), base},
		{"10000 contacts: ten watchers of 1000", args("notify", "--contacts", "10000", "--rate", "0", "--window", "512", "--sip-listen", "127.0.0.1:0", "--streams=false"),
			func() Config {
				c := base()
				c.Distinct, c.Watchers, c.Contacts, c.Window, c.SIPListen, c.Streams = 10000, 10, 1000, 512, "127.0.0.1:0", false
				return c
			}},
		{"watchers given: contacts rounded up", args("notify", "--contacts", "10", "--watchers", "3", "--rate", "500", "--warmup", "0s"),
			func() Config {
				c := base()
				c.Distinct, c.Watchers, c.Contacts, c.Rate, c.Warmup = 10, 3, 4, 500, 0
				return c
			}},
		{"IPv6 listener", args("notify", "--sip-listen", "[::1]:5070", "--duration", "5s"),
			func() Config {
				c := base()
				c.SIPListen, c.Duration = "[::1]:5070", 5*time.Second
				return c
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want(), got, cmpopts.IgnoreUnexported(Config{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseArgsNotifyErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"bounds", args("notify", "--contacts", "0", "--window", "0", "--rate", "-1", "--batch", "0"), []string{
			"--contacts: must be 1..100000, got 0",
			"--watchers: must be 1..1, got 0",
			"--batch: must be 1..100000, got 0",
			"--window: must be 1..65536, got 0",
			"--rate: must be 0 (as fast as the window allows) to 1000000, got -1",
		}},
		{"more watchers than contacts", args("notify", "--contacts", "5", "--watchers", "6"), []string{"--watchers: must be 1..5, got 6"}},
		{"listener not host:port", args("notify", "--sip-listen", "5060"), []string{`--sip-listen: want host:port, got "5060"`}},
		{"listener host a name", args("notify", "--sip-listen", "localhost:5060"), []string{`--sip-listen: host must be an IP address, got "localhost"`}},
		{"listener port", args("notify", "--sip-listen", "127.0.0.1:70000"), []string{`--sip-listen: port must be 0..65535, got "70000"`}},
		{"a flag of another scenario", args("notify", "--transport", "sse"), []string{"notify: flag provided but not defined: -transport (see presenced bench notify --help)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseArgs(tt.args, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}
