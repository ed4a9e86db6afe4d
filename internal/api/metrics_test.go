package api_test

import (
	"net/http"
	"testing"

	"github.com/presenced/presenced/internal/app/apptest"
)

// TestRequestMetricsByRoute: requests are counted by the route pattern
// they were served by (bounded label values), unknown paths as "other".
func TestRequestMetricsByRoute(t *testing.T) {
	h := apptest.New(t)
	tok := h.Token("alice@example.com")
	h.Subscribe(tok, map[string]any{"users": []string{"bob@example.com"}}, http.StatusCreated)
	h.Do("GET", "/v1/subscriptions", tok, nil)
	h.Do("GET", "/v1/subscriptions", tok, nil)
	h.Do("GET", "/no/such/thing", tok, nil)

	got := map[string]float64{}
	mfs, err := h.Gateway.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "presenced_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["route"]+" "+labels["code"]] += m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"POST /v1/subscriptions 201": 1,
		"GET /v1/subscriptions 200":  2,
		"other 404":                  1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("requests %q = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
