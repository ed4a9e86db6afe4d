package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/app/apptest"
	"github.com/presenced/presenced/internal/backend/native"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/endpoint"
	"github.com/presenced/presenced/internal/status"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/wire"
)

type settingsJSON struct {
	SubscriptionTTL int `json:"subscription_ttl"`
	Allowlist       struct {
		Enabled bool     `json:"enabled"`
		Domains []string `json:"domains"`
	} `json:"allowlist"`
}

func settingsOf(ttl int, enabled bool, domains ...string) settingsJSON {
	s := settingsJSON{SubscriptionTTL: ttl}
	s.Allowlist.Enabled = enabled
	s.Allowlist.Domains = append([]string{}, domains...)
	return s
}

// TestSettings runs its steps in order: each starts from the settings the
// previous ones left.
func TestSettings(t *testing.T) {
	h := apptest.New(t)
	adm := h.AdminToken()
	steps := []struct {
		name   string
		method string
		body   string
		want   settingsJSON // after the step
		code   string       // "" = accepted; else the 400 problem code
	}{
		{"initial", "GET", "", settingsOf(180, false), ""},
		{"ttl only", "PUT", `{"subscription_ttl":300}`, settingsOf(300, false), ""},
		{"domains as a list", "PUT", `{"allowlist":{"domains":["B.com","a.com","b.com."]}}`, settingsOf(300, false, "a.com", "b.com"), ""},
		{"enable only", "PUT", `{"allowlist":{"enabled":true}}`, settingsOf(300, true, "a.com", "b.com"), ""},
		{"domains as one string", "PUT", `{"allowlist":{"domains":"c.com, d.com;e.com f.com\ng.com"}}`, settingsOf(300, true, "c.com", "d.com", "e.com", "f.com", "g.com"), ""},
		{"repeated separators and duplicates", "PUT", `{"allowlist":{"domains":"C.com,, ;c.com"}}`, settingsOf(300, true, "c.com"), ""},
		{"everything at once", "PUT", `{"subscription_ttl":60,"allowlist":{"enabled":false,"domains":"x.org"}}`, settingsOf(60, false, "x.org"), ""},
		{"empty domains", "PUT", `{"allowlist":{"domains":[]}}`, settingsOf(60, false), ""},
		{"empty object", "PUT", `{}`, settingsOf(60, false), ""},
		{"invalid domain", "PUT", `{"allowlist":{"domains":"ok.com bad_domain.com"}}`, settingsOf(60, false), "invalid_request"},
		{"invalid domain in a list", "PUT", `{"allowlist":{"domains":["ok.com","-bad.com"]}}`, settingsOf(60, false), "invalid_request"},
		{"domains of the wrong type", "PUT", `{"allowlist":{"domains":5}}`, settingsOf(60, false), "invalid_request"},
		{"ttl too short", "PUT", `{"subscription_ttl":9}`, settingsOf(60, false), "invalid_request"},
		{"ttl too long", "PUT", `{"subscription_ttl":86401}`, settingsOf(60, false), "invalid_request"},
		// 18446744084 s is 10.29 s once multiplied out in int64 nanoseconds.
		{"ttl that overflows a duration", "PUT", `{"subscription_ttl":18446744084}`, settingsOf(60, false), "invalid_request"},
		{"unknown field", "PUT", `{"ttl":60}`, settingsOf(60, false), "invalid_request"},
		{"malformed", "PUT", `{"subscription_ttl":`, settingsOf(60, false), "invalid_request"},
		{"trailing garbage", "PUT", `{"subscription_ttl":120} x`, settingsOf(60, false), "invalid_request"},
		{"empty body", "PUT", ``, settingsOf(60, false), "invalid_request"},
		{"after the refusals", "GET", "", settingsOf(60, false), ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var body any
			if st.method == "PUT" {
				body = st.body
			}
			r := h.AdminDo(st.method, "/v1/admin/settings", adm, body)
			if st.code != "" {
				apptest.WantProblem(t, r, http.StatusBadRequest, st.code)
			} else if diff := cmp.Diff(st.want, apptest.Decode[settingsJSON](t, r, http.StatusOK)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			// Applied to the hub and persisted in the store.
			if got, want := h.Gateway.Hub.TTL(), time.Duration(st.want.SubscriptionTTL)*time.Second; got != want {
				t.Errorf("hub TTL %v, want %v", got, want)
			}
			stored, err := h.Gateway.Store.Settings().Get(context.Background())
			if err != nil {
				t.Fatalf("stored settings: %v", err)
			}
			want := store.Settings{
				SubscriptionTTL:  time.Duration(st.want.SubscriptionTTL) * time.Second,
				AllowlistEnabled: st.want.Allowlist.Enabled, AllowlistDomains: st.want.Allowlist.Domains,
			}
			if diff := cmp.Diff(want, stored, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllowlistDomains(t *testing.T) {
	h := apptest.New(t)
	adm := h.AdminToken()
	steps := []struct {
		name, method, path, body string
		want                     []string // domains after the step
		code                     string   // "" = accepted
	}{
		{"add one string", "POST", "/v1/admin/allowlist/domains", `{"domains":"a.com; b.com"}`, []string{"a.com", "b.com"}, ""},
		{"add a list", "POST", "/v1/admin/allowlist/domains", `{"domains":["C.com","a.com"]}`, []string{"a.com", "b.com", "c.com"}, ""},
		{"remove, case-insensitive", "DELETE", "/v1/admin/allowlist/domains/A.COM", "", []string{"b.com", "c.com"}, ""},
		{"remove an unlisted domain", "DELETE", "/v1/admin/allowlist/domains/z.com", "", []string{"b.com", "c.com"}, ""},
		{"remove an invalid domain", "DELETE", "/v1/admin/allowlist/domains/bad_domain", "", []string{"b.com", "c.com"}, "invalid_request"},
		{"add an invalid domain", "POST", "/v1/admin/allowlist/domains", `{"domains":"d.com bad..com"}`, []string{"b.com", "c.com"}, "invalid_request"},
		{"add nothing", "POST", "/v1/admin/allowlist/domains", `{"domains":[]}`, []string{"b.com", "c.com"}, "invalid_request"},
		{"add without domains", "POST", "/v1/admin/allowlist/domains", `{}`, []string{"b.com", "c.com"}, "invalid_request"},
		{"add with an unknown field", "POST", "/v1/admin/allowlist/domains", `{"domains":"d.com","enabled":true}`, []string{"b.com", "c.com"}, "invalid_request"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var body any
			if st.method == "POST" {
				body = st.body
			}
			r := h.AdminDo(st.method, st.path, adm, body)
			if st.code != "" {
				apptest.WantProblem(t, r, http.StatusBadRequest, st.code)
			} else if diff := cmp.Diff(settingsOf(180, false, st.want...), apptest.Decode[settingsJSON](t, r, http.StatusOK)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(st.want, h.Gateway.Settings.Get().AllowlistDomains); diff != "" {
				t.Errorf("domains (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndpointsInFillOrder(t *testing.T) {
	h := apptest.New(t, func(c *config.Config) {
		c.Backend.Endpoints = []string{"ep-a", "ep-b", "ep-c"}
		c.Backend.MaxSubscriptionsPerEndpoint = 2
	})
	adm, bob := h.AdminToken(), h.Token("bob@example.com")
	type endpoints struct {
		Endpoints []endpoint.Usage `json:"endpoints"`
	}
	usage := func(a, b, c int) endpoints {
		return endpoints{[]endpoint.Usage{{ID: "ep-a", Max: 2, Used: a}, {ID: "ep-b", Max: 2, Used: b}, {ID: "ep-c", Max: 2, Used: c}}}
	}
	get := func() endpoints {
		t.Helper()
		return apptest.Decode[endpoints](t, h.AdminDo("GET", "/v1/admin/endpoints", adm, nil), http.StatusOK)
	}
	if diff := cmp.Diff(usage(0, 0, 0), get()); diff != "" {
		t.Errorf("before any watch (-want +got):\n%s", diff)
	}

	sub := h.Subscribe(bob, map[string]any{"users": []string{"a@example.com", "b@example.com", "c@example.com"}}, http.StatusCreated)
	h.Settled(bob, sub.ID)
	steps := []struct {
		name  string
		patch map[string]any
		want  endpoints
	}{
		{"fill first", nil, usage(2, 1, 0)},
		{"a freed slot", map[string]any{"remove": []string{"a@example.com"}}, usage(1, 1, 0)},
		{"is reused first", map[string]any{"add": []string{"d@example.com"}}, usage(2, 1, 0)},
		{"then the next endpoint", map[string]any{"add": []string{"e@example.com", "f@example.com"}}, usage(2, 2, 1)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.patch != nil {
				apptest.Decode[apptest.Subscription](t, h.Do("PATCH", "/v1/subscriptions/"+sub.ID, bob, st.patch), http.StatusOK)
			}
			var got endpoints
			apptest.Eventually(t, "the endpoints to settle", func() bool {
				got = get()
				return cmp.Equal(st.want, got)
			})
		})
	}
}

func TestUserSubscriptions(t *testing.T) {
	h := apptest.New(t)
	adm, alice := h.AdminToken(), h.Token("alice@example.com")
	sub := h.Subscribe(alice, map[string]any{"users": []string{"bob@example.com"}, "key": "phone", "push_token": "tok"}, http.StatusCreated)
	plain := h.Subscribe(alice, map[string]any{"users": []string{}, "key": "watch", "ttl": 30}, http.StatusCreated)
	seq := h.Settled(alice, sub.ID).Sequence

	type adminSub struct {
		ID        string          `json:"id"`
		Key       string          `json:"key"`
		TTL       int             `json:"ttl"`
		ExpiresAt time.Time       `json:"expires_at"`
		Sequence  uint64          `json:"sequence"`
		Push      bool            `json:"push"`
		Presence  []wire.Presence `json:"presence"`
	}
	type answer struct {
		User          string     `json:"user"`
		Subscriptions []adminSub `json:"subscriptions"`
	}
	// Inspecting does not refresh: the expiries stay where alice left them.
	h.Clock.Advance(20 * time.Second)
	tests := []struct {
		name, query string
		want        answer
	}{
		{"a user's subscriptions", "?user=Alice@Example.com", answer{User: "alice@example.com", Subscriptions: []adminSub{
			{ID: sub.ID, Key: "phone", TTL: 180, ExpiresAt: apptest.T0.Add(apptest.DefaultTTL), Sequence: seq, Push: true,
				Presence: []wire.Presence{apptest.Offline("bob@example.com", apptest.At(apptest.T0))}},
			{ID: plain.ID, Key: "watch", TTL: 30, ExpiresAt: apptest.T0.Add(30 * time.Second), Sequence: 1, Presence: []wire.Presence{}},
		}}},
		{"a user without any", "?user=nobody@example.com", answer{User: "nobody@example.com", Subscriptions: []adminSub{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := apptest.Decode[answer](t, h.AdminDo("GET", "/v1/admin/subscriptions"+tt.query, adm, nil), http.StatusOK)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("subscriptions (-want +got):\n%s", diff)
			}
		})
	}
	for _, q := range []string{"", "?user=", "?user=not-an-email"} {
		apptest.WantProblem(t, h.AdminDo("GET", "/v1/admin/subscriptions"+q, adm, nil), http.StatusBadRequest, "invalid_request")
	}
}

func TestStatsAndMetrics(t *testing.T) {
	h := apptest.New(t)
	adm, alice, bob := h.AdminToken(), h.Token("alice@example.com"), h.Token("bob@example.com")
	sub := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com", "carol@example.com"}}, http.StatusCreated)
	h.Settled(bob, sub.ID)

	url := "ws" + strings.TrimPrefix(h.ClientServer.URL, "http") + "/v1/stream"
	conn, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + bob}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	defer conn.Close()
	apptest.Decode[map[string]any](t, h.Do("PUT", "/v1/me/presence", alice, `{"availability":"Away"}`), http.StatusOK)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil { // a safety deadline only
		t.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); err != nil {
		t.Fatalf("read the change: %v", err)
	}

	got := apptest.Decode[map[string]any](t, h.AdminDo("GET", "/v1/admin/stats", adm, nil), http.StatusOK)
	want := map[string]any{
		"client_subscriptions": 1.0, "watched_contacts": 2.0, "backend_subscriptions": 2.0,
		"streams": 1.0, "deliveries": 1.0, "stream_clients": 1.0, "waiting_contacts": 0.0,
		// The overview's component states: the native backend is built in,
		// and this gateway has no directory.
		"backend":   map[string]any{"state": "up", "detail": "native"},
		"directory": map[string]any{"state": "none", "detail": "not configured"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	r := h.AdminDo("GET", "/metrics", "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	for _, line := range []string{
		`presenced_endpoint_subscriptions{endpoint="default"} 2`,
		`presenced_endpoint_capacity{endpoint="default"} 1000`,
		`presenced_client_subscriptions 1`,
		`presenced_watched_contacts 2`,
		`presenced_stream_listeners 1`,
		`presenced_deliveries_total 1`,
	} {
		if !strings.Contains(string(r.Body), "\n"+line+"\n") {
			t.Errorf("/metrics lacks the line %q", line)
		}
	}
	if !strings.Contains(string(r.Body), `presenced_http_requests_total{code="201",listener="client",route="POST /v1/subscriptions"} 1`) {
		t.Errorf("/metrics lacks the client API's request count")
	}
}

func TestAdminAuth(t *testing.T) {
	h := apptest.New(t)
	client := h.Token("bob@example.com")
	routes := []struct{ method, path, body string }{
		{"GET", "/v1/admin/settings", ""},
		{"PUT", "/v1/admin/settings", `{"subscription_ttl":60}`},
		{"POST", "/v1/admin/allowlist/domains", `{"domains":"a.com"}`},
		{"DELETE", "/v1/admin/allowlist/domains/a.com", ""},
		{"GET", "/v1/admin/endpoints", ""},
		{"GET", "/v1/admin/subscriptions?user=bob@example.com", ""},
		{"GET", "/v1/admin/stats", ""},
	}
	creds := []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", http.StatusUnauthorized, "unauthorized"},
		{"malformed token", "pcd_nope", http.StatusUnauthorized, "unauthorized"},
		{"jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig", http.StatusUnauthorized, "unauthorized"},
		{"client token", client, http.StatusForbidden, "forbidden"},
	}
	for _, c := range creds {
		for _, rt := range routes {
			t.Run(fmt.Sprintf("%s %s %s", c.name, rt.method, rt.path), func(t *testing.T) {
				var body any
				if rt.body != "" {
					body = rt.body
				}
				apptest.WantProblem(t, h.AdminDo(rt.method, rt.path, c.token, body), c.status, c.code)
			})
		}
	}
	if diff := cmp.Diff(store.Settings{SubscriptionTTL: apptest.DefaultTTL, AllowlistDomains: []string{}}, h.Gateway.Settings.Get()); diff != "" {
		t.Errorf("refused calls changed the settings (-want +got):\n%s", diff)
	}
}

func TestAdminHealth(t *testing.T) {
	h := apptest.New(t)
	starting := apptest.Build(t) // built, its components not started yet
	adm := h.AdminToken()
	type health struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	tests := []struct {
		name, path string
		ready      bool
		status     int
		want       health
	}{
		{"healthz", "/healthz", true, http.StatusOK, health{Status: "ok"}},
		{"readyz", "/readyz", true, http.StatusOK, health{Status: "ready"}},
		{"readyz while starting", "/readyz", false, http.StatusServiceUnavailable, health{Status: "unavailable", Reason: "starting"}},
		{"healthz while starting", "/healthz", false, http.StatusOK, health{Status: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := h
			if !tt.ready {
				g = starting
			}
			if diff := cmp.Diff(tt.want, apptest.Decode[health](t, g.AdminDo("GET", tt.path, "", nil), tt.status)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	apptest.WantProblem(t, h.AdminDo("GET", "/v1/admin/nothing", adm, nil), http.StatusNotFound, "not_found")
}

// TestAllowlistChangeReachesClients changes the allowlist through the
// admin API and watches the client API's changes follow.
func TestAllowlistChangeReachesClients(t *testing.T) {
	h := apptest.New(t)
	adm, alice := h.AdminToken(), h.Token("alice@example.com")
	sub := h.Subscribe(alice, map[string]any{"users": []string{"bob@example.com", "carol@other.org"}}, http.StatusCreated)
	n := h.Settled(alice, sub.ID).Sequence
	changesSince := func(since uint64) apptest.Changes {
		t.Helper()
		return apptest.Decode[apptest.Changes](t, h.Do("GET", fmt.Sprintf("/v1/subscriptions/%s/changes?since=%d", sub.ID, since), alice, nil), http.StatusOK)
	}
	nb, ok := h.Gateway.Backend.(*native.Backend)
	if !ok {
		t.Fatalf("backend %T, want the native backend", h.Gateway.Backend)
	}
	watched := func() []string {
		var out []string
		for c := range nb.Watching() {
			out = append(out, c)
		}
		return out
	}

	// Allow example.com only: carol's domain is out.
	apptest.Decode[settingsJSON](t, h.AdminDo("PUT", "/v1/admin/settings", adm, `{"allowlist":{"enabled":true,"domains":"example.com"}}`), http.StatusOK)
	want := apptest.Changes{Sequence: n + 1, Presence: []wire.Presence{apptest.Unknown("carol@other.org", status.DomainNotAllowed)}}
	if diff := cmp.Diff(want, changesSince(n)); diff != "" {
		t.Errorf("changes after removing other.org (-want +got):\n%s", diff)
	}
	apptest.Eventually(t, "carol's watch to be released", func() bool {
		return cmp.Equal([]string{"bob@example.com"}, watched()) && h.Gateway.Pool.Used() == 1
	})

	// Allow other.org again: carol is watched again and settles.
	apptest.Decode[settingsJSON](t, h.AdminDo("POST", "/v1/admin/allowlist/domains", adm, `{"domains":"other.org"}`), http.StatusOK)
	var got apptest.Changes
	apptest.Eventually(t, "carol to be watched again", func() bool {
		got = changesSince(n + 1)
		return len(got.Presence) == 1 && got.Presence[0].Reason == ""
	})
	if diff := cmp.Diff([]wire.Presence{apptest.Offline("carol@other.org", apptest.At(apptest.T0))}, got.Presence); diff != "" || got.Full {
		t.Errorf("changes after adding other.org back (full %v; -want +got):\n%s", got.Full, diff)
	}

	// Removing the domain by name has the same effect.
	apptest.Decode[settingsJSON](t, h.AdminDo("DELETE", "/v1/admin/allowlist/domains/other.org", adm, nil), http.StatusOK)
	last := changesSince(got.Sequence)
	if diff := cmp.Diff(apptest.Changes{Sequence: got.Sequence + 1, Presence: []wire.Presence{apptest.Unknown("carol@other.org", status.DomainNotAllowed)}}, last); diff != "" {
		t.Errorf("changes after deleting other.org (-want +got):\n%s", diff)
	}
}

// TestSettingsFieldErrors: a refused change names the field at fault, for
// the dashboard to show the message next to it.
func TestSettingsFieldErrors(t *testing.T) {
	h := apptest.New(t)
	adm := h.AdminToken()
	tests := []struct {
		name, method, path, body string
		want                     []string
	}{
		{"ttl", "PUT", "/v1/admin/settings", `{"subscription_ttl":5}`, []string{"subscription_ttl"}},
		{"allowlist domains", "PUT", "/v1/admin/settings", `{"allowlist":{"domains":"ok.com bad_domain.com"}}`, []string{"allowlist.domains"}},
		{"added domains", "POST", "/v1/admin/allowlist/domains", `{"domains":"d.com bad..com"}`, []string{"domains"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := apptest.WantProblem(t, h.AdminDo(tt.method, tt.path, adm, tt.body), http.StatusBadRequest, "invalid_request")
			if diff := cmp.Diff(tt.want, p.Fields()); diff != "" {
				t.Errorf("fields at fault (-want +got):\n%s", diff)
			}
			for _, e := range p.Errors {
				if e.Detail == "" {
					t.Errorf("field %s without a message", e.Field)
				}
			}
		})
	}
}

// TestSettingsDryRun: ?dry_run=1 answers what the change would give by
// the server's rules, with the fields at fault when refused, and changes
// nothing.
func TestSettingsDryRun(t *testing.T) {
	h := apptest.New(t)
	adm := h.AdminToken()
	type preview struct{ Before, After settingsJSON }
	got := apptest.Decode[preview](t, h.AdminDo("PUT", "/v1/admin/settings?dry_run=1", adm, `{"subscription_ttl":300,"allowlist":{"enabled":true,"domains":"B.com; a.com,b.com"}}`), http.StatusOK)
	want := preview{Before: settingsOf(180, false), After: settingsOf(300, true, "a.com", "b.com")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	p := apptest.WantProblem(t, h.AdminDo("PUT", "/v1/admin/settings?dry_run=true", adm, `{"allowlist":{"domains":"bad_domain.com"}}`), http.StatusBadRequest, "invalid_request")
	if diff := cmp.Diff([]string{"allowlist.domains"}, p.Fields()); diff != "" {
		t.Errorf("fields at fault (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(settingsOf(180, false), apptest.Decode[settingsJSON](t, h.AdminDo("GET", "/v1/admin/settings", adm, nil), http.StatusOK)); diff != "" {
		t.Errorf("a dry run changed the settings (-want +got):\n%s", diff)
	}
}
