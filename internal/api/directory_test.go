package api_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/app/apptest"
	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/directory/directorytest"
)

func TestDirectoryEndpoints(t *testing.T) {
	off := false
	fake := directorytest.NewFake(
		directorytest.User{Mail: "alice@example.com", DisplayName: "Alice Archer", GivenName: "Alice", SN: "Archer",
			Title: "Engineer", TelephoneNumber: "+1 555 0100", Mobile: "+1 555 0101", SAMAccountName: "aarcher", Address: "sip:alice@example.com"},
		directorytest.User{Mail: "alina@example.com", DisplayName: "Alina Ames", SAMAccountName: "aames", Enabled: &off},
		directorytest.User{Mail: "bob@example.com", DisplayName: "Bob (Ops) *", SAMAccountName: "bob"},
	)
	h := apptest.NewWith(t, apptest.Extras{Directory: fake})
	bob := h.Token("bob@example.com")

	card := apptest.Decode[directory.Card](t, h.Do("GET", "/v1/directory/users/ALICE@example.com", bob, nil), http.StatusOK)
	want := directory.Card{Mail: "alice@example.com", DisplayName: "Alice Archer", GivenName: "Alice", SN: "Archer",
		Title: "Engineer", TelephoneNumber: "+1 555 0100", Mobile: "+1 555 0101", SAMAccountName: "aarcher"}
	if diff := cmp.Diff(want, card); diff != "" {
		t.Errorf("card (-want +got):\n%s", diff)
	}
	apptest.WantProblem(t, h.Do("GET", "/v1/directory/users/nobody@example.com", bob, nil), http.StatusNotFound, "not_found")
	apptest.WantProblem(t, h.Do("GET", "/v1/directory/users/not-an-email", bob, nil), http.StatusBadRequest, "invalid_request")

	type found struct {
		Users []directory.Card `json:"users"`
	}
	search := func(q, limit string) apptest.Response {
		v := url.Values{"q": {q}}
		if limit != "" {
			v.Set("limit", limit)
		}
		return h.Do("GET", "/v1/directory/search?"+v.Encode(), bob, nil)
	}
	got := apptest.Decode[found](t, search("ali", "5"), http.StatusOK)
	var mails []string
	for _, c := range got.Users {
		mails = append(mails, c.Mail)
	}
	if diff := cmp.Diff([]string{"alice@example.com", "alina@example.com"}, mails); diff != "" {
		t.Errorf("search ali (-want +got):\n%s", diff)
	}
	if got := apptest.Decode[found](t, search("ali", "1"), http.StatusOK); len(got.Users) != 1 {
		t.Errorf("limit 1 gave %d users", len(got.Users))
	}
	// Filter metacharacters are text: "*" finds only the card holding one.
	if got := apptest.Decode[found](t, search("*", ""), http.StatusOK); len(got.Users) != 1 || got.Users[0].Mail != "bob@example.com" {
		t.Errorf("search * = %+v, want bob's card only", got.Users)
	}
	if got := apptest.Decode[found](t, search("*)(mail=*", ""), http.StatusOK); len(got.Users) != 0 {
		t.Errorf("search with an injection attempt = %+v, want nothing", got.Users)
	}
	for _, tt := range []struct{ q, limit string }{{"", ""}, {"ali", "0"}, {"ali", "101"}, {"ali", "x"}, {string(make([]byte, 300)), ""}} {
		apptest.WantProblem(t, search(tt.q, tt.limit), http.StatusBadRequest, "invalid_request")
	}

	fake.Fail(directory.ErrUnavailable)
	apptest.WantProblem(t, h.Do("GET", "/v1/directory/users/alice@example.com", bob, nil), http.StatusServiceUnavailable, "unavailable")
	apptest.WantProblem(t, search("ali", ""), http.StatusServiceUnavailable, "unavailable")
	fake.Fail(nil)
	apptest.Decode[directory.Card](t, h.Do("GET", "/v1/directory/users/alice@example.com", bob, nil), http.StatusOK)
}
