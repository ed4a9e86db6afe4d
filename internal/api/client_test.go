package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/presenced/presenced/internal/app/apptest"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/status"
	"github.com/presenced/presenced/internal/wire"
)

type presenceList struct {
	Presence []wire.Presence `json:"presence"`
}

func TestQuery(t *testing.T) {
	// One endpoint slot: the second watched contact has no capacity. The
	// allowlist admits example.com only.
	h := apptest.New(t, func(c *config.Config) {
		c.Backend.MaxSubscriptionsPerEndpoint = 1
		c.Allowlist = config.AllowlistConfig{Enabled: true, Domains: []string{"example.com"}}
	})
	alice, bob := h.Token("alice@example.com"), h.Token("bob@example.com")
	h.Publish(alice, map[string]any{"availability": "Busy", "activity": "InAMeeting", "note": "back at 3"})
	sub := h.Subscribe(bob, map[string]any{"users": []string{"dave@example.com", "erin@example.com"}}, http.StatusCreated)
	h.Settled(bob, sub.ID)

	busy := wire.Presence{User: "alice@example.com", Availability: "Busy", Code: 6000, Activity: "InAMeeting", Note: "back at 3", Since: apptest.At(apptest.T0)}
	tests := []struct {
		name  string
		users []string
		want  []wire.Presence
	}{
		{"empty", []string{}, []wire.Presence{}},
		{
			name: "order kept, duplicates and case normalised",
			users: []string{
				"Alice@Example.COM", "erin@example.com", "carol@example.com",
				"x@other.org", "dave@example.com", "alice@example.com",
			},
			want: []wire.Presence{
				busy, // published, unwatched: fetched
				apptest.Unknown("erin@example.com", status.NoCapacity), // watched, no endpoint room
				apptest.Offline("carol@example.com", nil),              // never published: fetched
				apptest.Unknown("x@other.org", status.DomainNotAllowed),
				apptest.Offline("dave@example.com", apptest.At(apptest.T0)), // watched
				busy,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.Do("POST", "/v1/presence/query", bob, map[string]any{"users": tt.users})
			got := apptest.Decode[presenceList](t, r, http.StatusOK)
			if diff := cmp.Diff(tt.want, got.Presence); diff != "" {
				t.Errorf("presence (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubscribeCreatesThenReplacesByKey(t *testing.T) {
	h := apptest.New(t)
	bob, carol := h.Token("bob@example.com"), h.Token("carol@example.com")

	r := h.Do("POST", "/v1/subscriptions", bob, map[string]any{"users": []string{"alice@example.com", "Carol@example.com"}, "key": "team"})
	created := apptest.Decode[apptest.Subscription](t, r, http.StatusCreated)
	if created.ID == "" {
		t.Fatal("created subscription has no id")
	}
	if got, want := r.Header.Get("Location"), "/v1/subscriptions/"+created.ID; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	want := apptest.Subscription{
		ID: created.ID, Key: "team", TTL: 180, ExpiresAt: apptest.T0.Add(apptest.DefaultTTL), Sequence: 1,
		Presence: []wire.Presence{apptest.Unknown("alice@example.com", status.Pending), apptest.Unknown("carol@example.com", status.Pending)},
	}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}

	settled := h.Settled(bob, created.ID)
	replaced := h.Subscribe(bob, map[string]any{"users": []string{"carol@example.com", "dave@example.com"}, "key": "team"}, http.StatusOK)
	if replaced.Sequence <= settled.Sequence {
		t.Errorf("sequence after replace %d, want > %d", replaced.Sequence, settled.Sequence)
	}
	want = apptest.Subscription{
		ID: created.ID, Key: "team", TTL: 180, ExpiresAt: apptest.T0.Add(apptest.DefaultTTL), Sequence: replaced.Sequence,
		Presence: []wire.Presence{apptest.Offline("carol@example.com", apptest.At(apptest.T0)), apptest.Unknown("dave@example.com", status.Pending)},
	}
	if diff := cmp.Diff(want, replaced); diff != "" {
		t.Errorf("replaced (-want +got):\n%s", diff)
	}
	list := apptest.Decode[subscriptionList](t, h.Do("GET", "/v1/subscriptions", bob, nil), http.StatusOK)
	if diff := cmp.Diff([]string{"carol@example.com", "dave@example.com"}, usersOf(list)[created.ID]); diff != "" || len(list.Subscriptions) != 1 {
		t.Errorf("after replace: %d subscriptions, users (-want +got):\n%s", len(list.Subscriptions), diff)
	}

	// The same key of another user is another subscription.
	other := h.Subscribe(carol, map[string]any{"users": []string{"bob@example.com"}, "key": "team"}, http.StatusCreated)
	if other.ID == created.ID {
		t.Errorf("carol's subscription with bob's key has bob's id %s", other.ID)
	}
}

func TestSubscribeKeyAndTTL(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	tests := []struct {
		name    string
		body    map[string]any
		wantTTL int
	}{
		{"default ttl", map[string]any{"users": []string{"alice@example.com"}}, 180},
		{"shorter ttl", map[string]any{"users": []string{"alice@example.com"}, "ttl": 60}, 60},
		{"minimum ttl", map[string]any{"users": []string{"alice@example.com"}, "ttl": 10}, 10},
		{"ttl above the default is capped", map[string]any{"users": []string{"alice@example.com"}, "ttl": 600}, 180},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.Subscribe(bob, tt.body, http.StatusCreated)
			want := apptest.Subscription{
				ID: got.ID, Key: got.ID, TTL: tt.wantTTL, ExpiresAt: apptest.T0.Add(time.Duration(tt.wantTTL) * time.Second),
				Sequence: 1, Presence: got.Presence,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("subscription (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmptySubscriptionShowsEmptyLists(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	fields := func(r apptest.Response, status int) map[string]json.RawMessage {
		t.Helper()
		return apptest.Decode[map[string]json.RawMessage](t, r, status)
	}
	created := fields(h.Do("POST", "/v1/subscriptions", bob, map[string]any{"users": []string{}}), http.StatusCreated)
	var id string
	if err := json.Unmarshal(created["id"], &id); err != nil {
		t.Fatalf("id: %v", err)
	}
	got := fields(h.Do("GET", "/v1/subscriptions/"+id, bob, nil), http.StatusOK)
	for name, m := range map[string]map[string]json.RawMessage{"POST": created, "GET": got} {
		if string(m["presence"]) != "[]" {
			t.Errorf("%s answers presence %s, want []", name, m["presence"])
		}
	}
	if string(got["users"]) != "[]" {
		t.Errorf("GET answers users %s, want []", got["users"])
	}
	if _, ok := created["users"]; ok {
		t.Errorf("POST answers users %s; the contract lists presence only", created["users"])
	}
}

type subscriptionList struct {
	Subscriptions []apptest.Subscription `json:"subscriptions"`
}

func usersOf(l subscriptionList) map[string][]string {
	out := make(map[string][]string)
	for _, s := range l.Subscriptions {
		out[s.ID] = s.Users
	}
	return out
}

func TestListSubscriptions(t *testing.T) {
	h := apptest.New(t)
	bob, carol := h.Token("bob@example.com"), h.Token("carol@example.com")
	b := h.Subscribe(bob, map[string]any{"users": []string{"dave@example.com"}, "key": "b"}, http.StatusCreated)
	a := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com", "dave@example.com"}, "key": "a", "ttl": 30}, http.StatusCreated)

	tests := []struct {
		name, token string
		want        []apptest.Subscription
	}{
		{"sorted by key, with users", bob, []apptest.Subscription{
			{ID: a.ID, Key: "a", TTL: 30, ExpiresAt: apptest.T0.Add(30 * time.Second), Sequence: 1, Users: []string{"alice@example.com", "dave@example.com"}},
			{ID: b.ID, Key: "b", TTL: 180, ExpiresAt: apptest.T0.Add(apptest.DefaultTTL), Sequence: 1, Users: []string{"dave@example.com"}},
		}},
		{"another user sees none of them", carol, []apptest.Subscription{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := apptest.Decode[subscriptionList](t, h.Do("GET", "/v1/subscriptions", tt.token, nil), http.StatusOK)
			// Sequences move as contacts settle; the listing shape is what
			// is compared here.
			if diff := cmp.Diff(tt.want, got.Subscriptions, cmpopts.IgnoreFields(apptest.Subscription{}, "Sequence")); diff != "" {
				t.Errorf("subscriptions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetSubscriptionRefreshes(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	sub := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com"}, "key": "k"}, http.StatusCreated)
	h.Settled(bob, sub.ID)
	h.Clock.Advance(100 * time.Second)
	got := apptest.Decode[apptest.Subscription](t, h.Do("GET", "/v1/subscriptions/"+sub.ID, bob, nil), http.StatusOK)
	want := apptest.Subscription{
		ID: sub.ID, Key: "k", TTL: 180, ExpiresAt: apptest.T0.Add(100*time.Second + apptest.DefaultTTL), Sequence: got.Sequence,
		Users:    []string{"alice@example.com"},
		Presence: []wire.Presence{apptest.Offline("alice@example.com", apptest.At(apptest.T0))},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET (-want +got):\n%s", diff)
	}
}

func TestChangesSince(t *testing.T) {
	h := apptest.New(t)
	alice, bob := h.Token("alice@example.com"), h.Token("bob@example.com")
	sub := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com", "carol@example.com"}}, http.StatusCreated)
	n := h.Settled(bob, sub.ID).Sequence

	h.Clock.Advance(time.Minute)
	published := h.Publish(alice, map[string]any{"availability": "Available", "note": "hi"})
	available := wire.Presence{User: "alice@example.com", Availability: "Available", Code: 3500, Note: "hi", Since: apptest.At(apptest.T0.Add(time.Minute))}
	if diff := cmp.Diff(available, published); diff != "" {
		t.Errorf("publish answer (-want +got):\n%s", diff)
	}
	delta := changesUntil(t, h, bob, sub.ID, n)
	if diff := cmp.Diff(apptest.Changes{Sequence: n + 1, Presence: []wire.Presence{available}}, delta); diff != "" {
		t.Fatalf("changes since %d (-want +got):\n%s", n, diff)
	}

	full := []wire.Presence{available, apptest.Offline("carol@example.com", apptest.At(apptest.T0))}
	tests := []struct {
		name  string
		query string
		want  apptest.Changes
	}{
		{"since the latest sequence", fmt.Sprintf("?since=%d", n+1), apptest.Changes{Sequence: n + 1, Presence: []wire.Presence{}}},
		{"since the change", fmt.Sprintf("?since=%d", n), apptest.Changes{Sequence: n + 1, Presence: []wire.Presence{available}}},
		{"since zero is the full set", "?since=0", apptest.Changes{Sequence: n + 1, Full: true, Presence: full}},
		{"since the future is the full set", fmt.Sprintf("?since=%d", n+5), apptest.Changes{Sequence: n + 1, Full: true, Presence: full}},
		{"no since is the full set", "", apptest.Changes{Sequence: n + 1, Full: true, Presence: full}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := apptest.Decode[apptest.Changes](t, h.Do("GET", "/v1/subscriptions/"+sub.ID+"/changes"+tt.query, bob, nil), http.StatusOK)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}

	// Fetching changes refreshes the subscription.
	h.Clock.Advance(time.Minute)
	h.Do("GET", "/v1/subscriptions/"+sub.ID+"/changes?since=0", bob, nil)
	got := apptest.Decode[subscriptionList](t, h.Do("GET", "/v1/subscriptions", bob, nil), http.StatusOK)
	if len(got.Subscriptions) != 1 || !got.Subscriptions[0].ExpiresAt.Equal(apptest.T0.Add(2*time.Minute+apptest.DefaultTTL)) {
		t.Errorf("after changes: %+v, want expires_at %v", got.Subscriptions, apptest.T0.Add(2*time.Minute+apptest.DefaultTTL))
	}
}

func TestPatch(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	sub := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com", "carol@example.com"}, "key": "k"}, http.StatusCreated)
	n := h.Settled(bob, sub.ID).Sequence
	patch := func(body any) apptest.Subscription {
		t.Helper()
		return apptest.Decode[apptest.Subscription](t, h.Do("PATCH", "/v1/subscriptions/"+sub.ID, bob, body), http.StatusOK)
	}
	changesSince := func(since uint64) apptest.Changes {
		t.Helper()
		return apptest.Decode[apptest.Changes](t, h.Do("GET", fmt.Sprintf("/v1/subscriptions/%s/changes?since=%d", sub.ID, since), bob, nil), http.StatusOK)
	}

	added := patch(map[string]any{"add": []string{"dave@example.com", "alice@example.com"}})
	want := apptest.Subscription{
		ID: sub.ID, Key: "k", TTL: 180, ExpiresAt: apptest.T0.Add(apptest.DefaultTTL), Sequence: added.Sequence,
		Users: []string{"alice@example.com", "carol@example.com", "dave@example.com"},
		Presence: []wire.Presence{
			apptest.Offline("alice@example.com", apptest.At(apptest.T0)), apptest.Offline("carol@example.com", apptest.At(apptest.T0)), apptest.Unknown("dave@example.com", status.Pending),
		},
	}
	if diff := cmp.Diff(want, added); diff != "" {
		t.Errorf("after add (-want +got):\n%s", diff)
	}
	// Adding keeps the change log: only the new contact changed since n
	// (it may have settled meanwhile, so only who changed is compared).
	delta := changesSince(n)
	type who struct {
		Full  bool
		Users []string
	}
	if diff := cmp.Diff(who{Users: []string{"dave@example.com"}}, who{delta.Full, userNames(delta.Presence)}); diff != "" {
		t.Errorf("changes after add (-want +got):\n%s", diff)
	}
	h.Settled(bob, sub.ID)

	removed := patch(map[string]any{"remove": []string{"Alice@example.com"}})
	want = apptest.Subscription{
		ID: sub.ID, Key: "k", TTL: 180, ExpiresAt: apptest.T0.Add(apptest.DefaultTTL), Sequence: removed.Sequence,
		Users:    []string{"carol@example.com", "dave@example.com"},
		Presence: []wire.Presence{apptest.Offline("carol@example.com", apptest.At(apptest.T0)), apptest.Offline("dave@example.com", apptest.At(apptest.T0))},
	}
	if diff := cmp.Diff(want, removed); diff != "" {
		t.Errorf("after remove (-want +got):\n%s", diff)
	}
	// Removing resets the change log: an older since answers the full set.
	want2 := apptest.Changes{Sequence: removed.Sequence, Full: true, Presence: removed.Presence}
	if diff := cmp.Diff(want2, changesSince(n)); diff != "" {
		t.Errorf("changes after remove (-want +got):\n%s", diff)
	}
}

func TestRefresh(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	sub := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com"}, "ttl": 60}, http.StatusCreated)
	h.Clock.Advance(50 * time.Second)
	type refreshed struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	got := apptest.Decode[refreshed](t, h.Do("POST", "/v1/subscriptions/"+sub.ID+"/refresh", bob, nil), http.StatusOK)
	if diff := cmp.Diff(refreshed{apptest.T0.Add(50*time.Second + 60*time.Second)}, got); diff != "" {
		t.Errorf("refresh (-want +got):\n%s", diff)
	}
}

func TestDelete(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	sub := h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com"}}, http.StatusCreated)
	r := h.Do("DELETE", "/v1/subscriptions/"+sub.ID, bob, nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("DELETE: %d %q, want 204 and no body", r.Status, r.Body)
	}
	for _, method := range []string{"GET", "DELETE"} {
		apptest.WantProblem(t, h.Do(method, "/v1/subscriptions/"+sub.ID, bob, nil), http.StatusNotFound, "not_found")
	}
	list := apptest.Decode[subscriptionList](t, h.Do("GET", "/v1/subscriptions", bob, nil), http.StatusOK)
	if len(list.Subscriptions) != 0 {
		t.Errorf("after DELETE the list holds %+v", list.Subscriptions)
	}
	apptest.Eventually(t, "the watch to be released", func() bool { return h.Gateway.Pool.Used() == 0 })
}

func TestMe(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	type me struct {
		User          string `json:"user"`
		Subscriptions int    `json:"subscriptions"`
		Publish       bool   `json:"publish"`
	}
	h.Subscribe(bob, map[string]any{"users": []string{"alice@example.com"}}, http.StatusCreated)
	got := apptest.Decode[me](t, h.Do("GET", "/v1/me", bob, nil), http.StatusOK)
	if diff := cmp.Diff(me{User: "bob@example.com", Subscriptions: 1, Publish: true}, got); diff != "" {
		t.Errorf("me (-want +got):\n%s", diff)
	}
}

func TestPublishOwnPresence(t *testing.T) {
	h := apptest.New(t)
	alice, bob := h.Token("alice@example.com"), h.Token("bob@example.com")
	since := apptest.At(apptest.T0)
	pres := func(a string, code int) wire.Presence {
		return wire.Presence{User: "alice@example.com", Availability: a, Code: code, Since: since}
	}
	tests := []struct {
		name string
		body string
		want wire.Presence // zero: refused with invalid_request
	}{
		{"name with note and activity", `{"availability":"Busy","note":"back at 3","activity":"InAMeeting"}`,
			wire.Presence{User: "alice@example.com", Availability: "Busy", Code: 6000, Note: "back at 3", Activity: "InAMeeting", Since: since}},
		{"legacy code 6500 is Busy", `{"availability":6500}`, pres("Busy", 6000)},
		{"legacy idle busy", `{"availability":7600}`, pres("Busy", 6000)},
		{"legacy 0 is Available", `{"availability":0}`, pres("Available", 3500)},
		{"legacy idle available", `{"availability":4500}`, pres("Available", 3500)},
		{"legacy 9000", `{"availability":9000}`, pres("DoNotDisturb", 9000)},
		{"legacy 14999", `{"availability":14999}`, pres("BeRightBack", 12000)},
		{"legacy 15000", `{"availability":15000}`, pres("Away", 15500)},
		{"legacy 18000", `{"availability":18000}`, pres("Offline", 18000)},
		{"legacy huge", `{"availability":99999}`, pres("Offline", 18000)},
		{"Unknown refused", `{"availability":"Unknown"}`, wire.Presence{}},
		{"negative code refused", `{"availability":-1}`, wire.Presence{}},
		{"names are case-sensitive", `{"availability":"busy"}`, wire.Presence{}},
		{"availability required", `{"note":"x"}`, wire.Presence{}},
		{"null availability", `{"availability":null}`, wire.Presence{}},
		{"fractional code", `{"availability":6000.5}`, wire.Presence{}},
		{"boolean availability", `{"availability":true}`, wire.Presence{}},
		{"note too long", `{"availability":"Away","note":"` + strings.Repeat("n", 1025) + `"}`, wire.Presence{}},
		{"activity too long", `{"availability":"Away","activity":"` + strings.Repeat("a", 65) + `"}`, wire.Presence{}},
	}
	last := apptest.Offline("alice@example.com", nil) // never published
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.Do("PUT", "/v1/me/presence", alice, tt.body)
			if tt.want == (wire.Presence{}) {
				apptest.WantProblem(t, r, http.StatusBadRequest, "invalid_request")
			} else {
				got := apptest.Decode[wire.Presence](t, r, http.StatusOK)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				last = tt.want
			}
			// What others see is the last accepted publication.
			q := apptest.Decode[presenceList](t, h.Do("POST", "/v1/presence/query", bob, map[string]any{"users": []string{"alice@example.com"}}), http.StatusOK)
			if diff := cmp.Diff([]wire.Presence{last}, q.Presence); diff != "" {
				t.Errorf("query after publish (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDirectoryNotImplemented(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	for _, path := range []string{"/v1/directory/users/alice@example.com", "/v1/directory/search?q=ali&limit=5"} {
		t.Run(path, func(t *testing.T) {
			apptest.WantProblem(t, h.Do("GET", path, bob, nil), http.StatusNotImplemented, "not_implemented")
			apptest.WantProblem(t, h.Do("GET", path, "", nil), http.StatusUnauthorized, "unauthorized")
		})
	}
}

func TestHealth(t *testing.T) {
	h := apptest.New(t)
	type health struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if diff := cmp.Diff(health{Status: "ok"}, apptest.Decode[health](t, h.Do("GET", "/healthz", "", nil), http.StatusOK)); diff != "" {
		t.Errorf("healthz (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(health{Status: "ready"}, apptest.Decode[health](t, h.Do("GET", "/readyz", "", nil), http.StatusOK)); diff != "" {
		t.Errorf("readyz (-want +got):\n%s", diff)
	}
	// A gateway built but not started yet is not ready.
	starting := apptest.Build(t)
	got := apptest.Decode[health](t, starting.Do("GET", "/readyz", "", nil), http.StatusServiceUnavailable)
	if diff := cmp.Diff(health{Status: "unavailable", Reason: "starting"}, got); diff != "" {
		t.Errorf("readyz while not ready (-want +got):\n%s", diff)
	}
}

func TestUnknownRoute(t *testing.T) {
	h := apptest.New(t)
	bob := h.Token("bob@example.com")
	for _, path := range []string{"/v2/anything", "/v1/subscriptions/x/y/z"} {
		apptest.WantProblem(t, h.Do("GET", path, bob, nil), http.StatusNotFound, "not_found")
	}
}

// userNames returns the users of ps, in order.
func userNames(ps []wire.Presence) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.User
	}
	return out
}
