package kamailiotest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Watcher is one subscription dialog Kamailio holds (a row of its
// active_watchers table).
type Watcher struct {
	Presentity string // the presentity's URI, e.g. sip:bob@example.com
	User       string // the watcher's user part, e.g. presence_gw
	Domain     string // the watcher's domain
	Event      string // "presence"
}

// Identity returns the watcher's SIP URI.
func (w Watcher) Identity() string { return "sip:" + w.User + "@" + w.Domain }

// StopAndListWatchers stops Kamailio, which writes its subscriptions to
// the db_text tables only then, and returns the dialogs it held. Call
// Restart to serve again (with empty state).
func (s *Server) StopAndListWatchers(tb testing.TB) []Watcher {
	tb.Helper()
	s.Stop()
	data, err := os.ReadFile(filepath.Join(s.Dir(), "db", "active_watchers"))
	if err != nil {
		tb.Fatalf("kamailiotest: read active_watchers: %v", err)
	}
	ws, err := parseWatchers(string(data))
	if err != nil {
		tb.Fatalf("kamailiotest: %v", err)
	}
	return ws
}

// parseWatchers reads a db_text active_watchers table: a header line
// naming the columns, then one row per line with ':'-separated fields in
// which ':' itself is escaped as '\:'.
func parseWatchers(table string) ([]Watcher, error) {
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	col := map[string]int{}
	for i, c := range strings.Fields(lines[0]) {
		name, _, _ := strings.Cut(c, "(")
		col[name] = i
	}
	for _, need := range []string{"presentity_uri", "watcher_username", "watcher_domain", "event"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("active_watchers has no column %s: %q", need, lines[0])
		}
	}
	var out []Watcher
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		f := splitFields(line)
		if len(f) < len(col) {
			return nil, fmt.Errorf("active_watchers row has %d fields, want %d: %q", len(f), len(col), line)
		}
		out = append(out, Watcher{
			Presentity: f[col["presentity_uri"]], User: f[col["watcher_username"]],
			Domain: f[col["watcher_domain"]], Event: f[col["event"]],
		})
	}
	return out, nil
}

// splitFields splits a db_text row on unescaped ':' and unescapes '\:'.
func splitFields(line string) []string {
	var fields []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case line[i] == ':':
			fields = append(fields, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(fields, cur.String())
}
