package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/app/apptest"
	"github.com/presenced/presenced/internal/presence"
)

type compatContact struct {
	ID           string `json:"id"`
	Availability int    `json:"availability"`
}

type compatAnswer struct {
	Contacts []compatContact `json:"contacts"`
	Sequence *uint64         `json:"sequence"`
}

func seq(n uint64) *uint64 { return &n }

// vendorHeaders are the headers of the vendor's sample app: the token in
// X-Good-GD-AuthToken (no Authorization) and the optional extras.
func vendorHeaders(token string, extra ...string) http.Header {
	hdr := http.Header{
		"X-Good-Gd-Authtoken":     {token},
		"X-Good-Presence-Version": {"1.0"},
		"X-Good-Deviceid":         {"device-1"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		hdr.Set(extra[i], extra[i+1])
	}
	return hdr
}

// TestCompatVendorSequence replays the vendor sample's request sequence.
func TestCompatVendorSequence(t *testing.T) {
	h := apptest.New(t)
	alice, bob := h.Token("alice@example.com"), h.Token("bob@example.com")
	hdr := vendorHeaders(alice)
	fetch := func(query string) compatAnswer {
		t.Helper()
		return apptest.Decode[compatAnswer](t, h.Send("GET", "/presence/subscriptions/KEY"+query, hdr, nil), http.StatusOK)
	}

	// 1. Subscribe: the full set, with integer availabilities.
	r := h.Send("POST", "/presence/subscriptions", vendorHeaders(alice, "X-Good-GNP-Token", "gnp-1"),
		`{"contacts":["bob@example.com","carol@example.com"],"notify":"KEY"}`)
	want := compatAnswer{Contacts: []compatContact{{"bob@example.com", -1}, {"carol@example.com", -1}}, Sequence: seq(1)}
	if diff := cmp.Diff(want, apptest.Decode[compatAnswer](t, r, http.StatusOK)); diff != "" {
		t.Errorf("subscribe (-want +got):\n%s", diff)
	}
	var full compatAnswer
	apptest.Eventually(t, "the contacts to settle", func() bool {
		full = fetch("")
		for _, c := range full.Contacts {
			if c.Availability == -1 {
				return false
			}
		}
		return true
	})
	if diff := cmp.Diff([]compatContact{{"bob@example.com", 18000}, {"carol@example.com", 18000}}, full.Contacts); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
	n := *full.Sequence

	// 2. A contact changes.
	h.Publish(bob, map[string]any{"availability": "Busy"})

	// 3. Fetch with the sequence: only the changed contact, a new sequence.
	var delta compatAnswer
	apptest.Eventually(t, "bob's change", func() bool {
		delta = fetch(fmt.Sprintf("?sequence=%d", n))
		return len(delta.Contacts) > 0
	})
	if diff := cmp.Diff(compatAnswer{Contacts: []compatContact{{"bob@example.com", 6000}}, Sequence: seq(n + 1)}, delta); diff != "" {
		t.Errorf("fetch since %d (-want +got):\n%s", n, diff)
	}
	if diff := cmp.Diff(compatAnswer{Contacts: []compatContact{}, Sequence: seq(n + 1)}, fetch(fmt.Sprintf("?sequence=%d", n+1))); diff != "" {
		t.Errorf("fetch since %d (-want +got):\n%s", n+1, diff)
	}

	// 4. Fetch without a sequence: the full set.
	want = compatAnswer{Contacts: []compatContact{{"bob@example.com", 6000}, {"carol@example.com", 18000}}, Sequence: seq(n + 1)}
	if diff := cmp.Diff(want, fetch("")); diff != "" {
		t.Errorf("full fetch (-want +got):\n%s", diff)
	}

	// X-Good-GNP-Token became the subscription's push token, and the
	// change sent a hint with it.
	views := h.Gateway.Hub.Inspect("alice@example.com")
	if len(views) != 1 || views[0].PushToken != "gnp-1" || views[0].Key != "KEY" {
		t.Fatalf("alice's subscriptions %+v, want one with key KEY and push token gnp-1", views)
	}
	wantHint := presence.Hint{PushToken: "gnp-1", User: "alice@example.com", Subscription: views[0].ID, Key: "KEY", Sequence: n + 1}
	apptest.Eventually(t, "the push hint of bob's change", func() bool {
		hints := h.Hints.All()
		return len(hints) > 0 && hints[len(hints)-1] == wantHint
	})

	// 5. The same notify with no contacts removes the subscription.
	r = h.Send("POST", "/presence/subscriptions", hdr, `{"contacts":[],"notify":"KEY"}`)
	if diff := cmp.Diff(compatAnswer{Contacts: []compatContact{}, Sequence: seq(0)}, apptest.Decode[compatAnswer](t, r, http.StatusOK)); diff != "" {
		t.Errorf("unsubscribe (-want +got):\n%s", diff)
	}
	apptest.WantProblem(t, h.Send("GET", "/presence/subscriptions/KEY", hdr, nil), http.StatusNotFound, "not_found")

	// 6. Without notify: a one-shot lookup that creates nothing.
	r = h.Send("POST", "/presence/subscriptions", hdr, `{"contacts":["bob@example.com","dave@example.com"]}`)
	want = compatAnswer{Contacts: []compatContact{{"bob@example.com", 6000}, {"dave@example.com", 18000}}}
	if diff := cmp.Diff(want, apptest.Decode[compatAnswer](t, r, http.StatusOK)); diff != "" {
		t.Errorf("one-shot lookup (-want +got):\n%s", diff)
	}
	list := apptest.Decode[subscriptionList](t, h.Do("GET", "/v1/subscriptions", alice, nil), http.StatusOK)
	if len(list.Subscriptions) != 0 {
		t.Errorf("after the lookup alice holds %+v, want none", list.Subscriptions)
	}
}

func TestCompatSharesKeysWithV1(t *testing.T) {
	h := apptest.New(t)
	alice, bob := h.Token("alice@example.com"), h.Token("bob@example.com")
	// Authorization works on the compatibility paths too, and unknown
	// fields of existing apps are ignored there.
	r := h.Do("POST", "/presence/subscriptions", alice, `{"contacts":["Bob@Example.com"],"notify":"shared","appField":{"x":1}}`)
	apptest.Decode[compatAnswer](t, r, http.StatusOK)

	list := apptest.Decode[subscriptionList](t, h.Do("GET", "/v1/subscriptions", alice, nil), http.StatusOK)
	if len(list.Subscriptions) != 1 || list.Subscriptions[0].Key != "shared" {
		t.Fatalf("v1 listing %+v, want the compat subscription with key shared", list.Subscriptions)
	}
	// Replacing through /v1 with the same key is the same subscription.
	got := h.Subscribe(alice, map[string]any{"users": []string{"carol@example.com"}, "key": "shared"}, http.StatusOK)
	if got.ID != list.Subscriptions[0].ID {
		t.Errorf("v1 replace made %s, want the compat subscription %s", got.ID, list.Subscriptions[0].ID)
	}
	ans := apptest.Decode[compatAnswer](t, h.Do("GET", "/presence/subscriptions/shared", alice, nil), http.StatusOK)
	if len(ans.Contacts) != 1 || ans.Contacts[0].ID != "carol@example.com" {
		t.Errorf("compat fetch after v1 replace: %+v, want carol only", ans.Contacts)
	}
	// Another user's notify key is not found.
	apptest.WantProblem(t, h.Send("GET", "/presence/subscriptions/shared", vendorHeaders(bob), nil), http.StatusNotFound, "not_found")
}
