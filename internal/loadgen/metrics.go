package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The server metrics the tool reads from the admin listener's /metrics.
const (
	metricWatchedContacts = "presenced_watched_contacts"
	metricEndpointUsed    = "presenced_endpoint_subscriptions"
	metricEndpointCap     = "presenced_endpoint_capacity"
	metricRSS             = "process_resident_memory_bytes"
	metricCPU             = "process_cpu_seconds_total"
	metricListenerDrops   = "presenced_listener_drops_total"
	metricStreamDrops     = "presenced_stream_drops_total"
	metricCoalesced       = "presenced_coalesced_updates_total"
	metricDeliveries      = "presenced_deliveries_total"
	metricStreamWrites    = "presenced_stream_writes_total"
	metricChanges         = "presenced_contact_changes_total"
	metricHeapInuse       = "go_memstats_heap_inuse_bytes"
	metricStackInuse      = "go_memstats_stack_inuse_bytes"
	metricGoroutines      = "go_goroutines"
	metricStreamClients   = "presenced_stream_clients"
	// metricWebSocketClients is the key under which the client's scrape
	// keeps presenced_stream_clients{transport="websocket"} (Metrics
	// otherwise sums over labels).
	metricWebSocketClients = metricStreamClients + `{transport="websocket"}`
)

// maxMetricsBytes bounds a scrape; presenced's is a few tens of KiB.
const maxMetricsBytes = 16 << 20

// Label is one label of a sample.
type Label struct {
	Name, Value string
}

// Sample is one line of the Prometheus text exposition format: a series
// and its value. The optional timestamp is validated and dropped.
type Sample struct {
	Name   string
	Labels []Label
	Value  float64
}

// Metrics maps a metric name to the sum of its samples over every label
// set: the total of a counter or gauge family.
type Metrics map[string]float64

// ParseMetrics reads the Prometheus text exposition format (version
// 0.0.4) and sums the samples of each name. Comment and blank lines are
// skipped; any other malformed line is an error naming its line number.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	err := ParseSamples(r, func(s Sample) { m[s.Name] += s.Value })
	return m, err
}

// ParseSamples calls fn for every sample of the text exposition format read
// from r, in order, and stops at the first malformed line. At most
// 16 MiB are read.
func ParseSamples(r io.Reader, fn func(Sample)) error {
	sc := bufio.NewScanner(io.LimitReader(r, maxMetricsBytes))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return fmt.Errorf("metrics line %d: %w", n, err)
		}
		fn(s)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read metrics: %w", err)
	}
	return nil
}

// parseSample parses `name[{labels}] value [timestamp]`.
func parseSample(line string) (Sample, error) {
	var s Sample
	i := 0
	for i < len(line) && isNameChar(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return s, errors.New("missing metric name")
	}
	s.Name, line = line[:i], line[i:]
	if strings.HasPrefix(line, "{") {
		labels, rest, err := parseLabels(line[1:])
		if err != nil {
			return s, fmt.Errorf("%s: %w", s.Name, err)
		}
		s.Labels, line = labels, rest
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || len(fields) > 2 || (line[0] != ' ' && line[0] != '\t') {
		return s, fmt.Errorf("%s: want a value and an optional timestamp after the series", s.Name)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("%s: bad value %q", s.Name, fields[0])
	}
	s.Value = v
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			return s, fmt.Errorf("%s: bad timestamp %q", s.Name, fields[1])
		}
	}
	return s, nil
}

// parseLabels parses `name="value",...}` (the opening brace consumed) and
// returns the labels and what follows the closing brace.
func parseLabels(line string) ([]Label, string, error) {
	var labels []Label
	for {
		line = strings.TrimLeft(line, " \t")
		if strings.HasPrefix(line, "}") {
			return labels, line[1:], nil
		}
		i := 0
		for i < len(line) && isNameChar(line[i], i == 0) && line[i] != ':' {
			i++
		}
		if i == 0 {
			return nil, "", errors.New("bad label name")
		}
		name := line[:i]
		line = strings.TrimLeft(line[i:], " \t")
		rest, ok := strings.CutPrefix(line, "=")
		if rest = strings.TrimLeft(rest, " \t"); !ok || !strings.HasPrefix(rest, `"`) {
			return nil, "", fmt.Errorf("label %s: want =\"value\"", name)
		}
		value, rest, err := unquote(rest[1:])
		if err != nil {
			return nil, "", fmt.Errorf("label %s: %w", name, err)
		}
		labels = append(labels, Label{Name: name, Value: value})
		line = strings.TrimLeft(rest, " \t")
		switch {
		case strings.HasPrefix(line, ","):
			line = line[1:]
		case strings.HasPrefix(line, "}"):
		default:
			return nil, "", fmt.Errorf("label %s: want , or } after the value", name)
		}
	}
}

// unquote reads a label value up to its closing quote, resolving the
// escapes \\, \" and \n, and returns it and the rest of the line.
func unquote(s string) (string, string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", errors.New("unterminated escape")
			}
			i++
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", "", fmt.Errorf("bad escape \\%c", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated label value")
}

// isNameChar reports whether c may appear in a metric name ([a-zA-Z_:]
// first, then also digits).
func isNameChar(c byte, first bool) bool {
	return c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || (!first && '0' <= c && c <= '9')
}
