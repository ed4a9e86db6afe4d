package ui_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/admin/ui"
	"github.com/presenced/presenced/internal/browsertest"
)

// fakeAdmin is a tiny stand-in for the session routes and the admin API
// that the login and overview pages use: one account admin/secret, a
// session cookie, and the CSRF token "csrf-1".
type fakeAdmin struct {
	mu         sync.Mutex
	statsCalls int      // guarded by mu
	logins     []string // guarded by mu; "name/password" of each attempt
	logouts    []string // guarded by mu; X-CSRF-Token of each logout
}

const sessionCookie = "presenced_admin"

func (f *fakeAdmin) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/admin/", ui.Handler())
	mux.HandleFunc("POST /admin/api/login", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name, Password string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			problem(w, http.StatusBadRequest, "body must be JSON")
			return
		}
		f.mu.Lock()
		f.logins = append(f.logins, req.Name+"/"+req.Password)
		f.mu.Unlock()
		if req.Name != "admin" || req.Password != "secret" {
			problem(w, http.StatusUnauthorized, "wrong account or password")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "s1", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		writeJSON(w, map[string]string{"csrf": "csrf-1"})
	})
	mux.HandleFunc("POST /admin/api/logout", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.logouts = append(f.logouts, r.Header.Get("X-CSRF-Token"))
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /v1/admin/stats", f.session(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.statsCalls++
		n := f.statsCalls
		f.mu.Unlock()
		writeJSON(w, map[string]any{
			"client_subscriptions":  42,
			"watched_contacts":      1234,
			"backend_subscriptions": 900,
			"streams":               7,
			"stream_clients":        7,
			"deliveries":            100 * n,
			"backend":               map[string]string{"state": "up"},
			"directory":             map[string]string{"state": "down", "detail": "bind failed"},
		})
	}))
	mux.HandleFunc("GET /v1/admin/endpoints", f.session(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"endpoints": []map[string]any{
			{"id": "ep-1", "max": 500, "used": 500},
			{"id": "ep-2", "max": 500, "used": 400},
			{"id": "ep-3", "max": 500, "used": 0},
		}})
	}))
	return mux
}

// session answers 401 to requests without the session cookie.
func (f *fakeAdmin) session(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(sessionCookie); err != nil || c.Value != "s1" {
			problem(w, http.StatusUnauthorized, "no session")
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "detail": detail})
}

// TestLoginAndOverview logs in through the login page (first with a wrong
// password), sees the overview fill from the fake stats, and logs out.
func TestLoginAndOverview(t *testing.T) {
	fake := &fakeAdmin{}
	srv := httptest.NewServer(fake.handler())
	t.Cleanup(srv.Close)
	b := browsertest.New(t)
	ctx := b.Tab(t)
	if err := browsertest.Viewport(ctx, 1280, 800); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		return browsertest.Get(t, ctx, chromedp.Text(chromedp.CSS(sel)))
	}

	// Without a session the dashboard shows the login page.
	browsertest.Do(t, ctx,
		chromedp.Navigate(srv.URL+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS("#login-name")),
	)
	if got, want := browsertest.Get(t, ctx, chromedp.Location()), srv.URL+"/admin/login"; got != want {
		t.Errorf("location without a session = %q, want %q", got, want)
	}
	browsertest.Screenshot(t, ctx, "admin-login")

	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#login-name"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "wrong"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	type loginError struct {
		Message, Invalid, DescribedBy string
	}
	gotErr := loginError{
		Message:     text("#login-error"),
		Invalid:     browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("login-password").getAttribute("aria-invalid")`)),
		DescribedBy: browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("login-password").getAttribute("aria-describedby")`)),
	}
	if diff := cmp.Diff(loginError{"Wrong account or password.", "true", "login-error"}, gotErr); diff != "" {
		t.Errorf("after a wrong password (-want +got):\n%s", diff)
	}

	// The wrong password stays selected: typing replaces it.
	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#login-password"), "secret"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#page-overview")),
	)
	// Wait for the second poll: deliveries per second needs two samples.
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/^[0-9.,]+$/.test(document.getElementById("count-deliveries").textContent)`))

	type overview struct {
		Location                                    string
		Health, Backend, Directory, DirectoryDetail string
		Counts                                      []string
		Endpoints                                   []string
		Charts                                      int
	}
	got := overview{
		Location:        browsertest.Get(t, ctx, chromedp.Location()),
		Health:          text("#health"),
		Backend:         text("#backend-status"),
		Directory:       text("#directory-status"),
		DirectoryDetail: text("#directory-detail"),
		Counts: browsertest.Get(t, ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll("#counts .value")].slice(0, 4).map(e => e.textContent)`)),
		Endpoints: browsertest.Get(t, ctx, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll("#overview-endpoints .usage")].map(e => e.firstChild.textContent + " " + e.lastChild.textContent + " " + e.children[1].firstChild.style.width)`)),
		Charts: browsertest.Get(t, ctx, chromedp.Evaluate[int](
			`document.querySelectorAll("#counts svg polyline[points]").length`)),
	}
	want := overview{
		Location: srv.URL + "/admin/overview",
		Health:   "ready", Backend: "up", Directory: "down", DirectoryDetail: "bind failed",
		Counts:    []string{"42", "1,234", "900", "7"},
		Endpoints: []string{"ep-1 500 / 500 100%", "ep-2 400 / 500 80%", "ep-3 0 / 500 0%"},
		Charts:    5,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("overview (-want +got):\n%s", diff)
	}
	if rate := text("#count-deliveries"); !regexp.MustCompile(`^[0-9][0-9.,]*$`).MatchString(rate) {
		t.Errorf("deliveries per second = %q, want a number", rate)
	}
	browsertest.Screenshot(t, ctx, "admin-overview")
	if err := browsertest.Viewport(ctx, 390, 844); err != nil {
		t.Fatal(err)
	}
	if w := browsertest.Get(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("overview at 390 px is %d px wide, want no horizontal scrolling", w)
	}
	browsertest.Screenshot(t, ctx, "admin-overview-phone")

	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-name")),
	)
	fake.mu.Lock()
	calls := struct{ Logins, Logouts []string }{fake.logins, fake.logouts}
	fake.mu.Unlock()
	wantCalls := struct{ Logins, Logouts []string }{[]string{"admin/wrong", "admin/secret"}, []string{"csrf-1"}}
	if diff := cmp.Diff(wantCalls, calls); diff != "" {
		t.Errorf("calls of the session routes (-want +got):\n%s", diff)
	}
	if errs := browsertest.ConsoleErrors(ctx); len(errs) != 0 {
		t.Errorf("console errors: %v", errs)
	}
}
