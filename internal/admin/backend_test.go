package admin_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/app/apptest"
)

type formJSON struct {
	Kind       string `json:"kind"`
	Generation int64  `json:"generation"`
	Sections   []struct {
		Title  string `json:"title"`
		Fields []struct {
			Key      string `json:"key"`
			Type     string `json:"type"`
			Value    string `json:"value"`
			Set      bool   `json:"set"`
			ReadOnly bool   `json:"read_only"`
		} `json:"fields"`
	} `json:"sections"`
}

// TestBackendPageRoutes: the page's routes over a native gateway: the
// form, a refused value named by its field, and Save, which needs the
// supervisor of presenced serve (internal/app's tests and test/e2e cover
// the kinds' fields, Test and Save).
func TestBackendPageRoutes(t *testing.T) {
	h := apptest.New(t)
	adm := h.AdminToken()
	f := apptest.Decode[formJSON](t, h.AdminDo("GET", "/admin/api/backend", adm, nil), http.StatusOK)
	var keys []string
	for _, s := range f.Sections {
		for _, fd := range s.Fields {
			keys = append(keys, fd.Key)
		}
	}
	if f.Kind != "native" || f.Generation != 1 || len(keys) < 3 || keys[0] != "backend.endpoints" {
		t.Errorf("form kind %q generation %d fields %v", f.Kind, f.Generation, keys)
	}
	p := apptest.WantProblem(t, h.AdminDo("POST", "/admin/api/backend/test", adm, map[string]any{"values": map[string]string{"backend.max_subscriptions_per_endpoint": "6000"}}), http.StatusBadRequest, "invalid_request")
	if diff := cmp.Diff([]string{"backend.max_subscriptions_per_endpoint"}, p.Fields()); diff != "" {
		t.Errorf("fields at fault (-want +got):\n%s", diff)
	}
	res := apptest.Decode[map[string][]map[string]any](t, h.AdminDo("POST", "/admin/api/backend/test", adm, nil), http.StatusOK)
	if len(res["steps"]) != 1 || res["steps"][0]["ok"] != true {
		t.Errorf("Test of the native backend: %v", res)
	}
	apptest.WantProblem(t, h.AdminDo("PUT", "/admin/api/backend", adm, map[string]any{"values": map[string]string{"backend.max_subscriptions_per_endpoint": "500"}}), http.StatusNotImplemented, "not_implemented")
	apptest.WantProblem(t, h.AdminDo("PUT", "/admin/api/backend", adm, map[string]any{"values": map[string]string{}}), http.StatusBadRequest, "invalid_request")
	apptest.WantProblem(t, h.AdminDo("PUT", "/admin/api/backend", adm, `{"values":{"x":1}}`), http.StatusBadRequest, "invalid_request")
	apptest.WantProblem(t, h.AdminDo("DELETE", "/admin/api/backend", adm, nil), http.StatusNotImplemented, "not_implemented")
}
