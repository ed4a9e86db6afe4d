package admin_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/app/apptest"
)

// TestAuditLog: every admin change is recorded with who, what, before and
// after, newest first, paged by before=ID; bad paging is a 400.
func TestAuditLog(t *testing.T) {
	h := apptest.New(t)
	adm := h.AdminToken()
	h.AdminDo("PUT", "/v1/admin/settings", adm, map[string]any{"subscription_ttl": 300})
	h.AdminDo("POST", "/v1/admin/allowlist/domains", adm, map[string]any{"domains": "example.com"})
	h.AdminDo("POST", "/v1/admin/tokens", adm, map[string]any{"user": "bob@example.com"})

	type entry struct {
		ID     string          `json:"id"`
		Actor  string          `json:"actor"`
		Action string          `json:"action"`
		Target string          `json:"target"`
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
	}
	type page struct {
		Entries []entry `json:"entries"`
	}
	got := apptest.Decode[page](t, h.AdminDo("GET", "/admin/api/audit", adm, nil), http.StatusOK)
	var actions []string
	for _, e := range got.Entries {
		actions = append(actions, e.Action+" "+e.Target)
		if e.Actor == "" {
			t.Errorf("entry %s names no actor", e.ID)
		}
	}
	if diff := cmp.Diff([]string{"token.create bob@example.com", "settings.update settings", "settings.update settings"}, actions); diff != "" {
		t.Fatalf("audit actions, newest first (-want +got):\n%s", diff)
	}
	var before, after struct {
		TTL int `json:"subscription_ttl"`
	}
	oldest := got.Entries[2]
	if err := json.Unmarshal(oldest.Before, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(oldest.After, &after); err != nil {
		t.Fatal(err)
	}
	if before.TTL != 180 || after.TTL != 300 {
		t.Errorf("TTL change recorded as %d -> %d, want 180 -> 300", before.TTL, after.TTL)
	}
	older := apptest.Decode[page](t, h.AdminDo("GET", "/admin/api/audit?limit=1&before="+got.Entries[0].ID, adm, nil), http.StatusOK)
	if len(older.Entries) != 1 || older.Entries[0].ID != got.Entries[1].ID {
		t.Errorf("page before %s = %+v, want entry %s", got.Entries[0].ID, older.Entries, got.Entries[1].ID)
	}
	for _, q := range []string{"?limit=0", "?limit=501", "?before=x"} {
		apptest.WantProblem(t, h.AdminDo("GET", "/admin/api/audit"+q, adm, nil), http.StatusBadRequest, "invalid_request")
	}
	apptest.WantProblem(t, h.AdminDo("GET", "/admin/api/audit", "", nil), http.StatusUnauthorized, "unauthorized")
}
