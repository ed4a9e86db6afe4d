package apptest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/app/apptest"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/endpoint"
	"github.com/presenced/presenced/internal/presence"
	"github.com/presenced/presenced/internal/wire"
)

// TestMain checks that a harness's cleanup stops everything it started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type health struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func TestBuildThenStart(t *testing.T) {
	h := apptest.Build(t)
	for _, do := range []func(string, string, string, any) apptest.Response{h.Do, h.AdminDo} {
		got := apptest.Decode[health](t, do("GET", "/readyz", "", nil), http.StatusServiceUnavailable)
		if diff := cmp.Diff(health{Status: "unavailable", Reason: "starting"}, got); diff != "" {
			t.Errorf("readyz before Start (-want +got):\n%s", diff)
		}
	}
	h.Start()
	for _, do := range []func(string, string, string, any) apptest.Response{h.Do, h.AdminDo} {
		if diff := cmp.Diff(health{Status: "ready"}, apptest.Decode[health](t, do("GET", "/readyz", "", nil), http.StatusOK)); diff != "" {
			t.Errorf("readyz after Start (-want +got):\n%s", diff)
		}
	}
}

func TestTokens(t *testing.T) {
	h := apptest.New(t)
	client, admin := h.Token("bob@example.com"), h.AdminToken()
	tests := []struct {
		name   string
		r      apptest.Response
		status int
		code   string // "" = accepted
	}{
		{"client token on the client API", h.Do("GET", "/v1/me", client, nil), http.StatusOK, ""},
		{"admin token on the admin API", h.AdminDo("GET", "/v1/admin/settings", admin, nil), http.StatusOK, ""},
		{"client token on the admin API", h.AdminDo("GET", "/v1/admin/settings", client, nil), http.StatusForbidden, "forbidden"},
		{"admin token on the client API", h.Do("GET", "/v1/me", admin, nil), http.StatusForbidden, "forbidden"},
		{"no token", h.Do("GET", "/v1/me", "", nil), http.StatusUnauthorized, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.code != "" {
				apptest.WantProblem(t, tt.r, tt.status, tt.code)
			} else {
				apptest.Decode[map[string]any](t, tt.r, tt.status)
			}
		})
	}
}

func TestMutationsReachTheGateway(t *testing.T) {
	h := apptest.New(t, func(c *config.Config) {
		c.Backend.Endpoints = []string{"ep-a", "ep-b"}
		c.Backend.MaxSubscriptionsPerEndpoint = 7
	})
	type endpoints struct {
		Endpoints []endpoint.Usage `json:"endpoints"`
	}
	want := endpoints{[]endpoint.Usage{{ID: "ep-a", Max: 7}, {ID: "ep-b", Max: 7}}}
	got := apptest.Decode[endpoints](t, h.AdminDo("GET", "/v1/admin/endpoints", h.AdminToken(), nil), http.StatusOK)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
}

// TestPublicationReachesSubscriberAndHints runs a change through the whole
// gateway: the contact settles, a publication arrives at once (no
// coalescing on the harness's clock) and sends a push hint.
func TestPublicationReachesSubscriberAndHints(t *testing.T) {
	h := apptest.New(t)
	alice, bob := h.Token("alice@example.com"), h.Token("bob@example.com")
	sub := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com"}, "push_token": "p"}, http.StatusCreated)
	settled := h.Settled(bob, sub.ID)
	if diff := cmp.Diff([]wire.Presence{apptest.Offline("alice@example.com", apptest.At(apptest.T0))}, settled.Presence); diff != "" {
		t.Fatalf("settled (-want +got):\n%s", diff)
	}

	h.Clock.Advance(time.Minute)
	away := h.Publish(alice, map[string]any{"availability": "Away"})
	if diff := cmp.Diff(wire.Presence{User: "alice@example.com", Availability: "Away", Code: 15500, Since: apptest.At(apptest.T0.Add(time.Minute))}, away); diff != "" {
		t.Errorf("publish answer (-want +got):\n%s", diff)
	}
	var got apptest.Subscription
	apptest.Eventually(t, "alice's change", func() bool {
		got = apptest.Decode[apptest.Subscription](t, h.Do("GET", "/v1/subscriptions/"+sub.ID, bob, nil), http.StatusOK)
		return got.Sequence > settled.Sequence
	})
	if diff := cmp.Diff([]wire.Presence{away}, got.Presence); diff != "" {
		t.Errorf("after the change (-want +got):\n%s", diff)
	}
	wantHint := presence.Hint{PushToken: "p", User: "bob@example.com", Subscription: sub.ID, Key: sub.Key, Sequence: got.Sequence}
	apptest.Eventually(t, "the push hint", func() bool {
		hints := h.Hints.All()
		return len(hints) > 0 && hints[len(hints)-1] == wantHint
	})
}
