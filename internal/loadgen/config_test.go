package loadgen

import (
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var required = []string{"--target", "http://127.0.0.1:8080", "--admin", "http://127.0.0.1:8081", "--admin-token", "pcd_x"}

func args(scenario string, extra ...string) []string {
	return append(append([]string{scenario}, required...), extra...)
}

func TestParseArgsValid(t *testing.T) {
	base := func(s Scenario) Config {
		c := defaults(s)
		c.Target, c.Admin, c.AdminToken = mustURL(t, "http://127.0.0.1:8080"), mustURL(t, "http://127.0.0.1:8081"), "pcd_x"
		return c
	}
	tests := []struct {
		name string
		args []string
		want func() Config
	}{
		{"subscribe defaults", args("subscribe"), func() Config { return base(Subscribe) }},
		{"subscribe flags", args("subscribe", "--watchers", "10000", "--contacts", "100", "--distinct", "50000", "--batch", "50", "--concurrency", "8", "--duration", "1h", "--keep", "--json", "-", "--progress", "0"),
			func() Config {
				c := base(Subscribe)
				c.Watchers, c.Contacts, c.Distinct, c.Batch, c.Concurrency = 10000, 100, 50000, 50, 8
				c.Duration, c.Keep, c.JSON, c.Progress = time.Hour, true, "-", 0
				return c
			}},
		{"fanout sse", args("fanout", "--transport", "sse", "--rate", "2000", "--warmup", "0s"),
			func() Config {
				c := base(Fanout)
				c.Transport, c.Rate, c.Warmup = TransportSSE, 2000, 0
				return c
			}},
		{"lookup", args("lookup", "--batch", "1000", "--concurrency", "2"),
			func() Config {
				c := base(Lookup)
				c.Batch, c.Concurrency = 1000, 2
				return c
			}},
		{"churn", args("churn", "--rate", "50.5", "--seed", "7"),
			func() Config {
				c := base(Churn)
				c.Rate, c.Seed = 50.5, 7
				return c
			}},
		{"trailing slash and path prefix", []string{"lookup", "--target", "http://Host:80/gw/", "--admin", "http://127.0.0.1:8081/", "--admin-token", "t"},
			func() Config {
				c := base(Lookup)
				c.Target, c.Admin, c.AdminToken = mustURL(t, "http://Host:80/gw"), mustURL(t, "http://127.0.0.1:8081"), "t"
				return c
			}},
		{"xmpp defaults", args("xmpp", "--secret", "s"),
			func() Config {
				c := base(XMPP)
				c.Secret, c.Watchers, c.Contacts, c.JIDDomain = "s", 1, 1000, "example.com"
				return c
			}},
		{"xmpp flags", args("xmpp", "--secret", "s", "--contacts", "2500", "--rate", "20000", "--xmpp-listen", "127.0.0.1:0",
			"--component", "pres.corp.example", "--xmpp-domain", "corp.example", "--jid-domain", "im.corp.example",
			"--ingest-metric", "x_total", "--streams=false", "--warmup", "0s"),
			func() Config {
				c := base(XMPP)
				c.Secret, c.Distinct, c.Watchers, c.Contacts, c.Rate = "s", 2500, 3, 834, 20000
				c.XMPPListen, c.Component, c.XMPPDomain, c.JIDDomain = "127.0.0.1:0", "pres.corp.example", "corp.example", "im.corp.example"
				c.IngestMetric, c.Streams, c.Warmup = "x_total", false, 0
				return c
			}},
		{"insecure https", []string{"lookup", "--target", "https://127.0.0.1:8443", "--admin", "http://127.0.0.1:8081", "--admin-token", "t", "--insecure-tls"},
			func() Config {
				c := base(Lookup)
				c.Target, c.AdminToken, c.InsecureTLS = mustURL(t, "https://127.0.0.1:8443"), "t", true
				return c
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args, io.Discard)
			if err != nil {
				t.Fatalf("ParseArgs: %v", err)
			}
			if diff := cmp.Diff(tt.want(), got, cmpopts.IgnoreUnexported(Config{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string // every line of the error, in order
	}{
		{"no scenario", nil, []string{"missing SCENARIO: one of subscribe, fanout, lookup, churn, idle, notify, xmpp"}},
		{"unknown scenario", []string{"storm"}, []string{`unknown SCENARIO "storm": want one of subscribe, fanout, lookup, churn, idle, notify, xmpp`}},
		{"flag of another scenario", args("subscribe", "--rate", "5"), []string{"subscribe: flag provided but not defined: -rate (see presenced bench subscribe --help)"}},
		{"bad number", args("fanout", "--watchers", "many"), []string{`fanout: invalid value "many" for flag -watchers: parse error (see presenced bench fanout --help)`}},
		{"positional after flags", args("lookup", "extra"), []string{`lookup: unexpected argument "extra" (flags follow the scenario)`}},
		{"nothing given", []string{"lookup"}, []string{"--target: required", "--admin: required", "--admin-token: required (presenced admin token create)"}},
		{"bad urls", []string{"lookup", "--target", "ftp://h/", "--admin", "http://u:p@h:1", "--admin-token", "a b"},
			[]string{`--target: must be an http or https URL, got "ftp://h/"`, "--admin: must not hold a user name or password", "--admin-token: must not contain spaces or control characters"}},
		{"url with query", []string{"lookup", "--target", "http://h:1/?x=1", "--admin", "http://:8081", "--admin-token", "t"},
			[]string{`--target: must not hold a query or fragment: "http://h:1/?x=1"`, `--admin: has no host: "http://:8081"`}},
		{"duration bounds", args("subscribe", "--duration", "61m", "--progress", "10ms", "--setup-timeout", "2h"),
			[]string{"--duration: must be more than 0 and at most 1h0m0s, got 1h1m0s", "--progress: must be 0 (none) or at least 100ms, got 10ms", "--setup-timeout: must be 1s..1h0m0s, got 2h0m0s"}},
		{"zero duration", args("churn", "--duration", "0s"), []string{"--duration: must be more than 0 and at most 1h0m0s, got 0s"}},
		{"sizes", args("subscribe", "--watchers", "0", "--contacts", "200", "--distinct", "100", "--batch", "0", "--concurrency", "20000"),
			[]string{"--concurrency: must be 1..10000, got 20000", "--batch: must be 1..100000, got 0", "--watchers: must be 1..1000000, got 0", "--contacts: must be at most --distinct (100), got 200: a watcher's contacts are distinct"}},
		{"fanout rate and transport", args("fanout", "--rate", "0", "--transport", "tcp", "--warmup", "11m"),
			[]string{"--warmup: must be 0..10m0s, got 11m0s", "--rate: must be more than 0 and at most 1000000, got 0", `--transport: must be websocket or sse, got "tcp"`}},
		{"xmpp flags wrong", args("xmpp", "--contacts", "0", "--rate", "-1", "--xmpp-listen", "localhost:5347",
			"--component", "a b", "--xmpp-domain", "-x.example", "--jid-domain", "a..b", "--ingest-metric", "1x"),
			[]string{"--contacts: must be 1..100000, got 0", "--watchers: must be 1..1, got 0",
				"--rate: must be 0 (as fast as the connection takes them) to 1000000, got -1",
				`--xmpp-listen: host must be an IP address, got "localhost"`,
				`--component: must be a domain name, got "a b"`, `--xmpp-domain: must be a domain name, got "-x.example"`,
				`--jid-domain: must be a domain name, got "a..b"`, "--secret: required (the cluster's component secret)",
				`--ingest-metric: must be a metric name, got "1x"`}},
		{"xmpp listen port", args("xmpp", "--secret", "s", "--xmpp-listen", "127.0.0.1:70000"),
			[]string{`--xmpp-listen: port must be 0..65535, got "70000"`}},
		{"churn rate NaN", args("churn", "--rate", "NaN"), []string{"--rate: must be more than 0 and at most 1000000, got NaN"}},
		{"tls flags without https", args("lookup", "--insecure-tls", "--ca-file", notPEM),
			[]string{"--insecure-tls: neither --target nor --admin is https", "--ca-file: neither --target nor --admin is https"}},
		{"ca file not PEM", []string{"lookup", "--target", "https://h:1", "--admin", "https://h:2", "--admin-token", "t", "--ca-file", notPEM},
			[]string{"--ca-file: " + notPEM + " holds no PEM certificate"}},
		{"ca file missing", []string{"lookup", "--target", "https://h:1", "--admin", "https://h:2", "--admin-token", "t", "--ca-file", filepath.Join(dir, "nope")},
			[]string{"--ca-file: open " + filepath.Join(dir, "nope") + ": no such file or directory"}},
		{"ca file and insecure", []string{"lookup", "--target", "https://h:1", "--admin", "https://h:2", "--admin-token", "t", "--ca-file", notPEM, "--insecure-tls"},
			[]string{"--ca-file: --ca-file and --insecure-tls exclude each other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseArgs(tt.args, io.Discard)
			if err == nil {
				t.Fatal("ParseArgs succeeded")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseArgsHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string // substrings of the help text
	}{
		{[]string{"--help"}, []string{"Usage: presenced bench SCENARIO", "fanout", "churn"}},
		{[]string{"fanout", "-h"}, []string{"Usage: presenced bench fanout [flags]", "-transport", "-warmup", "-rate"}},
		{[]string{"--help"}, []string{"xmpp       act as the XMPP component port"}},
		{[]string{"xmpp", "-h"}, []string{"Usage: presenced bench xmpp [flags]", "-xmpp-listen", "-component", "-secret", "-jid-domain", "-ingest-metric"}},
	}
	for _, tt := range tests {
		var out strings.Builder
		_, err := ParseArgs(tt.args, &out)
		if !errors.Is(err, ErrHelp) {
			t.Errorf("%v: err = %v, want ErrHelp", tt.args, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: help lacks %q:\n%s", tt.args, w, out.String())
			}
		}
	}
}
