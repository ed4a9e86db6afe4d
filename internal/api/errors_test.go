package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/app/apptest"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/config"
)

func TestBadInput(t *testing.T) {
	h := apptest.New(t, func(c *config.Config) { c.Presence.MaxContactsPerRequest = 3; c.HTTP.MaxBodyBytes = 1024 })
	bob, alice, admin := h.Token("bob@example.com"), h.Token("alice@example.com"), h.AdminToken()
	unknownToken, _, err := auth.NewToken() // well formed, never stored
	if err != nil {
		t.Fatal(err)
	}
	own := h.Subscribe(bob, map[string]any{"users": []string{"dave@example.com", "erin@example.com"}, "key": "own"}, http.StatusCreated)
	theirs := h.Subscribe(alice, map[string]any{"users": []string{"carol@example.com"}, "key": "theirs"}, http.StatusCreated)
	h.Do("POST", "/presence/subscriptions", alice, `{"contacts":["carol@example.com"],"notify":"compat-theirs"}`)

	authorization := func(v string) http.Header { return http.Header{"Authorization": {v}} }
	four := `["a@example.com","b@example.com","c@example.com","d@example.com"]`
	huge := `{"users":["` + strings.Repeat("x", 2000) + `@example.com"]}`
	tests := []struct {
		name         string
		method, path string
		hdr          http.Header
		body         string
		status       int
		code         string
	}{
		// Credentials.
		{"no token", "GET", "/v1/subscriptions", nil, "", 401, "unauthorized"},
		{"no token on query", "POST", "/v1/presence/query", nil, `{"users":[]}`, 401, "unauthorized"},
		{"no token on compat", "POST", "/presence/subscriptions", nil, `{"contacts":[]}`, 401, "unauthorized"},
		{"malformed token", "GET", "/v1/me", apptest.Bearer("pcd_short"), "", 401, "unauthorized"},
		{"unknown token", "GET", "/v1/me", apptest.Bearer(unknownToken), "", 401, "unauthorized"},
		{"basic scheme", "GET", "/v1/me", authorization("Basic " + bob), "", 401, "unauthorized"},
		{"empty bearer", "GET", "/v1/me", authorization("Bearer "), "", 401, "unauthorized"},
		{"jwt without oidc", "GET", "/v1/me", apptest.Bearer("eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImFAYi5jIn0.sig"), "", 401, "unauthorized"},
		{"bad token in compat header", "GET", "/presence/subscriptions/x", vendorHeaders("pcd_nope"), "", 401, "unauthorized"},
		{"compat header on v1", "GET", "/v1/me", vendorHeaders(bob), "", 401, "unauthorized"},
		{"admin token", "GET", "/v1/subscriptions", apptest.Bearer(admin), "", 403, "forbidden"},
		{"admin token on compat", "POST", "/presence/subscriptions", vendorHeaders(admin), `{"contacts":[]}`, 403, "forbidden"},

		// Bodies.
		{"malformed JSON", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[`, 400, "invalid_request"},
		{"not JSON", "POST", "/v1/presence/query", apptest.Bearer(bob), `users=a@example.com`, 400, "invalid_request"},
		{"empty body", "POST", "/v1/subscriptions", apptest.Bearer(bob), "", 400, "invalid_request"},
		{"unknown field on subscribe", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"bogus":1}`, 400, "invalid_request"},
		{"unknown field on query", "POST", "/v1/presence/query", apptest.Bearer(bob), `{"users":[],"contacts":[]}`, 400, "invalid_request"},
		{"unknown field on patch", "PATCH", "/v1/subscriptions/" + own.ID, apptest.Bearer(bob), `{"add":[],"replace":[]}`, 400, "invalid_request"},
		{"unknown field on publish", "PUT", "/v1/me/presence", apptest.Bearer(bob), `{"availability":"Busy","mood":"x"}`, 400, "invalid_request"},
		{"trailing garbage", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[]} x`, 400, "invalid_request"},
		{"two values", "POST", "/v1/presence/query", apptest.Bearer(bob), `{"users":[]}{"users":[]}`, 400, "invalid_request"},
		{"trailing garbage on compat", "POST", "/presence/subscriptions", apptest.Bearer(bob), `{"contacts":[]}]`, 400, "invalid_request"},
		{"users of the wrong type", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":"a@example.com"}`, 400, "invalid_request"},
		{"users missing", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"key":"k"}`, 400, "invalid_request"},
		{"key too long", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"key":"` + strings.Repeat("k", 257) + `"}`, 400, "invalid_request"},
		{"notify too long", "POST", "/presence/subscriptions", apptest.Bearer(bob), `{"contacts":["a@example.com"],"notify":"` + strings.Repeat("k", 257) + `"}`, 400, "invalid_request"},

		// Emails.
		{"invalid email in query", "POST", "/v1/presence/query", apptest.Bearer(bob), `{"users":["not-an-email"]}`, 400, "invalid_request"},
		{"invalid email in subscribe", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":["a@example.com","a b@example.com"]}`, 400, "invalid_request"},
		{"empty local part", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":["@example.com"]}`, 400, "invalid_request"},
		{"bad domain", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":["a@-example.com"]}`, 400, "invalid_request"},
		{"invalid email in patch", "PATCH", "/v1/subscriptions/" + own.ID, apptest.Bearer(bob), `{"add":["nope"]}`, 400, "invalid_request"},
		{"invalid email in compat", "POST", "/presence/subscriptions", apptest.Bearer(bob), `{"contacts":["nope"],"notify":"k"}`, 400, "invalid_request"},

		// Sizes.
		{"too many contacts in query", "POST", "/v1/presence/query", apptest.Bearer(bob), `{"users":` + four + `}`, 400, "too_many_contacts"},
		{"too many contacts in subscribe", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":` + four + `}`, 400, "too_many_contacts"},
		{"too many contacts in patch", "PATCH", "/v1/subscriptions/" + own.ID, apptest.Bearer(bob), `{"add":` + four + `}`, 400, "too_many_contacts"},
		{"patch beyond the maximum", "PATCH", "/v1/subscriptions/" + own.ID, apptest.Bearer(bob), `{"add":["x@example.com","y@example.com"]}`, 400, "too_many_contacts"},
		{"too many contacts in compat", "POST", "/presence/subscriptions", apptest.Bearer(bob), `{"contacts":` + four + `,"notify":"k"}`, 400, "too_many_contacts"},
		{"oversized subscribe", "POST", "/v1/subscriptions", apptest.Bearer(bob), huge, 413, "payload_too_large"},
		{"oversized query", "POST", "/v1/presence/query", apptest.Bearer(bob), huge, 413, "payload_too_large"},
		{"oversized compat", "POST", "/presence/subscriptions", apptest.Bearer(bob), `{"contacts":[],"notify":"` + strings.Repeat("k", 2000) + `"}`, 413, "payload_too_large"},
		{"oversized after a value", "POST", "/v1/presence/query", apptest.Bearer(bob), `{"users":[]}` + strings.Repeat(" ", 2000), 413, "payload_too_large"},

		// Another user's subscription, and none at all.
		{"get theirs", "GET", "/v1/subscriptions/" + theirs.ID, apptest.Bearer(bob), "", 404, "not_found"},
		{"changes of theirs", "GET", "/v1/subscriptions/" + theirs.ID + "/changes?since=0", apptest.Bearer(bob), "", 404, "not_found"},
		{"patch theirs", "PATCH", "/v1/subscriptions/" + theirs.ID, apptest.Bearer(bob), `{"remove":["carol@example.com"]}`, 404, "not_found"},
		{"refresh theirs", "POST", "/v1/subscriptions/" + theirs.ID + "/refresh", apptest.Bearer(bob), "", 404, "not_found"},
		{"delete theirs", "DELETE", "/v1/subscriptions/" + theirs.ID, apptest.Bearer(bob), "", 404, "not_found"},
		{"compat fetch of theirs", "GET", "/presence/subscriptions/compat-theirs", apptest.Bearer(bob), "", 404, "not_found"},
		{"compat fetch of their v1 key", "GET", "/presence/subscriptions/theirs?sequence=0", apptest.Bearer(bob), "", 404, "not_found"},
		{"unknown id", "GET", "/v1/subscriptions/0123456789abcdef01234567", apptest.Bearer(bob), "", 404, "not_found"},

		// Query parameters.
		{"since not a number", "GET", "/v1/subscriptions/" + own.ID + "/changes?since=abc", apptest.Bearer(bob), "", 400, "invalid_request"},
		{"since negative", "GET", "/v1/subscriptions/" + own.ID + "/changes?since=-1", apptest.Bearer(bob), "", 400, "invalid_request"},
		{"since fractional", "GET", "/v1/subscriptions/" + own.ID + "/changes?since=1.5", apptest.Bearer(bob), "", 400, "invalid_request"},
		{"sequence not a number", "GET", "/presence/subscriptions/own?sequence=x", apptest.Bearer(bob), "", 400, "invalid_request"},

		// TTLs.
		{"ttl zero", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"ttl":0}`, 400, "invalid_request"},
		{"ttl negative", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"ttl":-5}`, 400, "invalid_request"},
		{"ttl below the minimum", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"ttl":9}`, 400, "invalid_request"},
		{"ttl above the maximum", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"ttl":86401}`, 400, "invalid_request"},
		// 18446744084 s is 10.29 s once multiplied out in int64 nanoseconds.
		{"ttl that overflows a duration", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"ttl":18446744084}`, 400, "invalid_request"},
		{"ttl beyond int", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"ttl":1e30}`, 400, "invalid_request"},
		{"ttl fractional", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"ttl":60.5}`, 400, "invalid_request"},
		{"ttl as a string", "POST", "/v1/subscriptions", apptest.Bearer(bob), `{"users":[],"ttl":"60"}`, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" || tt.method == "POST" {
				body = tt.body
			}
			apptest.WantProblem(t, h.Send(tt.method, tt.path, tt.hdr, body), tt.status, tt.code)
		})
	}

	// Nothing above changed alice's subscription or created one for bob.
	got := apptest.Decode[apptest.Subscription](t, h.Do("GET", "/v1/subscriptions/"+theirs.ID, alice, nil), http.StatusOK)
	if diff := cmp.Diff([]string{"carol@example.com"}, got.Users); diff != "" {
		t.Errorf("alice's subscription users (-want +got):\n%s", diff)
	}
	list := apptest.Decode[subscriptionList](t, h.Do("GET", "/v1/subscriptions", bob, nil), http.StatusOK)
	if diff := cmp.Diff(map[string][]string{own.ID: {"dave@example.com", "erin@example.com"}}, usersOf(list)); diff != "" {
		t.Errorf("bob's subscriptions (-want +got):\n%s", diff)
	}
}

func TestRateLimit(t *testing.T) {
	h := apptest.New(t, func(c *config.Config) { c.Auth.RateLimit = config.RateLimitConfig{RequestsPerSecond: 1, Burst: 2} })
	bob, carol := h.Token("bob@example.com"), h.Token("carol@example.com")
	call := func(token string) apptest.Response {
		t.Helper()
		return h.Do("GET", "/v1/me", token, nil)
	}
	for i := range 2 {
		if r := call(bob); r.Status != http.StatusOK {
			t.Fatalf("call %d within the burst: %d %s", i+1, r.Status, r.Body)
		}
	}
	limited := func(r apptest.Response) {
		t.Helper()
		apptest.WantProblem(t, r, http.StatusTooManyRequests, "rate_limited")
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After %q, want 1", got)
		}
	}
	limited(call(bob))
	limited(h.Send("POST", "/presence/subscriptions", vendorHeaders(bob), `{"contacts":[]}`))
	if r := call(carol); r.Status != http.StatusOK {
		t.Errorf("another token is limited too: %d %s", r.Status, r.Body)
	}
	h.Clock.Advance(time.Second) // one token back
	if r := call(bob); r.Status != http.StatusOK {
		t.Errorf("after a second: %d %s", r.Status, r.Body)
	}
	limited(call(bob))
}
