package loadgen

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const sampleScrape = `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.34
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 5.4321e+07
presenced_endpoint_subscriptions{endpoint="default"} 600
presenced_endpoint_subscriptions{endpoint="sip:gw2@example.com"} 400
presenced_endpoint_capacity{endpoint="default"} 1000
presenced_endpoint_capacity{endpoint="sip:gw2@example.com"} 1000
presenced_stream_drops_total{reason="slow_consumer"} 3
presenced_stream_drops_total{reason="write_timeout"} 1
presenced_http_request_seconds_bucket{listener="client",route="POST /v1/subscriptions",le="+Inf"} 7 1700000000000
odd_labels{a="x\"y",b="back\\slash",c="new\nline",} 1
   spaced{ a = "1" , b="2"}	2
nan_gauge NaN
inf_gauge +Inf

`

func TestParseMetrics(t *testing.T) {
	got, err := ParseMetrics(strings.NewReader(sampleScrape))
	if err != nil {
		t.Fatal(err)
	}
	want := Metrics{
		metricCPU: 12.34, metricRSS: 54321000,
		metricEndpointUsed: 1000, metricEndpointCap: 2000, metricStreamDrops: 4,
		"presenced_http_request_seconds_bucket": 7,
		"odd_labels":                            1, "spaced": 2, "nan_gauge": math.NaN(), "inf_gauge": math.Inf(1),
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestParseSamplesLabels(t *testing.T) {
	var got []Sample
	err := ParseSamples(strings.NewReader(sampleScrape), func(s Sample) {
		if s.Name == "odd_labels" || s.Name == "spaced" {
			got = append(got, s)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{
		{Name: "odd_labels", Labels: []Label{{"a", `x"y`}, {"b", `back\slash`}, {"c", "new\nline"}}, Value: 1},
		{Name: "spaced", Labels: []Label{{"a", "1"}, {"b", "2"}}, Value: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

func TestParseMetricsErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"ok 1\n{a=\"b\"} 1", "metrics line 2: missing metric name"},
		{"m", "metrics line 1: m: want a value and an optional timestamp after the series"},
		{"m 1 2 3", "metrics line 1: m: want a value and an optional timestamp after the series"},
		{"m one", `metrics line 1: m: bad value "one"`},
		{"m 1 later", `metrics line 1: m: bad timestamp "later"`},
		{"m{a} 1", `metrics line 1: m: label a: want ="value"`},
		{`m{a="1" b="2"} 1`, "metrics line 1: m: label a: want , or } after the value"},
		{`m{a="1} 1`, "metrics line 1: m: label a: unterminated label value"},
		{`m{a="\t"} 1`, `metrics line 1: m: label a: bad escape \t`},
		{`m{="1"} 1`, "metrics line 1: m: bad label name"},
		{`m{a="1"}1`, "metrics line 1: m: want a value and an optional timestamp after the series"},
		{"m" + strings.Repeat("x", 2<<20) + " 1", "read metrics: bufio.Scanner: token too long"},
	}
	for _, tt := range tests {
		_, err := ParseMetrics(strings.NewReader(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseMetrics(%.40q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// formatSample writes s in the text format.
func formatSample(s Sample) string {
	var b strings.Builder
	b.WriteString(s.Name)
	if len(s.Labels) > 0 {
		b.WriteByte('{')
		esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
		for i, l := range s.Labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.Name + `="` + esc.Replace(l.Value) + `"`)
		}
		b.WriteByte('}')
	}
	b.WriteString(" " + strconv.FormatFloat(s.Value, 'g', -1, 64))
	return b.String()
}

// FuzzParseSamples checks that the parser never panics and that what it
// accepts survives a format/parse round trip unchanged.
func FuzzParseSamples(f *testing.F) {
	f.Add(sampleScrape)
	f.Add(`a{b="c\\\"d",e="\n"} -1.5e-3 123`)
	f.Add("x{} 0\n# comment\n\ny 1")
	f.Fuzz(func(t *testing.T, in string) {
		var samples []Sample
		if err := ParseSamples(strings.NewReader(in), func(s Sample) { samples = append(samples, s) }); err != nil {
			return
		}
		var text strings.Builder
		for _, s := range samples {
			text.WriteString(formatSample(s) + "\n")
		}
		var again []Sample
		if err := ParseSamples(strings.NewReader(text.String()), func(s Sample) { again = append(again, s) }); err != nil {
			t.Fatalf("formatted samples do not parse: %v\n%s", err, text.String())
		}
		if diff := cmp.Diff(samples, again, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
