package api_test

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/presenced/presenced/internal/app/apptest"
	"github.com/presenced/presenced/internal/config"
)

// FuzzSubscriptionBodies posts arbitrary bodies to both subscription
// endpoints through the real handler: whatever the body, the answer is
// never a 500 and always one JSON value of a JSON media type.
func FuzzSubscriptionBodies(f *testing.F) {
	for _, seed := range []string{
		`{"users":["alice@example.com"],"key":"k","ttl":60,"push_token":"p"}`,
		`{"users":[],"ttl":18446744084}`,
		`{"users":["a@example.com","a@example.com","B@EXAMPLE.COM"]}`,
		`{"contacts":["bob@example.com"],"notify":"KEY"}`,
		`{"contacts":[],"notify":"KEY"}`,
		`{"contacts":["bob@example.com"]}`,
		`{"users":[`, `{"users":[]} x`, `null`, `[]`, `"x"`, ``, `{"users":null}`,
		`{"users":["\u0000@example.com"],"key":"\ud800"}`,
		`{"users":[1,2,3]}`, `{"contacts":{"a":1},"notify":7}`,
	} {
		f.Add(false, []byte(seed))
		f.Add(true, []byte(seed))
	}
	h := apptest.New(f, func(c *config.Config) {
		c.Presence.MaxContactsPerRequest = 5
		c.HTTP.MaxBodyBytes = 4096
		c.Log.Level = "error" // quiet: refused bodies log warnings
	})
	token := h.Token("fuzz@example.com")
	f.Fuzz(func(t *testing.T, compat bool, body []byte) {
		path := "/v1/subscriptions"
		if compat {
			path = "/presence/subscriptions"
		}
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.Gateway.Client.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("POST %s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
		mt, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
		if mt != "application/json" && mt != "application/problem+json" {
			t.Errorf("POST %s %q: Content-Type %q", path, body, rec.Header().Get("Content-Type"))
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Errorf("POST %s %q: answer is not JSON: %q", path, body, rec.Body)
		}
	})
}
