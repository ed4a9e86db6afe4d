package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

// TestAuditLogIsAppendOnly checks that the schema itself refuses to
// change or remove audit entries, whatever SQL reaches the writer.
func TestAuditLogIsAppendOnly(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "presenced.db"))
	want := store.AuditEntry{At: time.UnixMilli(1_700_000_000_000).UTC(), Actor: "admin", Action: "settings.update", After: `{"ttl":60}`}
	id, err := s.Audit().Append(t.Context(), want)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	want.ID = id
	for _, stmt := range []string{
		`UPDATE audit_log SET actor = 'mallory'`,
		`DELETE FROM audit_log`,
		`INSERT OR REPLACE INTO audit_log (id, at_ms, actor, action, target, before, after, remote) VALUES (1, 0, 'mallory', '', '', '', '', '')`,
		`INSERT INTO audit_log (id, at_ms, actor, action, target, before, after, remote) VALUES (1, 0, 'mallory', '', '', '', '', '')
			ON CONFLICT (id) DO UPDATE SET actor = excluded.actor`,
		`REPLACE INTO audit_log SELECT * FROM audit_log`,
	} {
		_, err := s.write.ExecContext(t.Context(), stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s = %v; want the append-only error", stmt, err)
		}
	}
	got, err := s.Audit().List(t.Context(), store.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff([]store.AuditEntry{want}, got); diff != "" {
		t.Errorf("audit log after refused changes (-want +got):\n%s", diff)
	}
}
