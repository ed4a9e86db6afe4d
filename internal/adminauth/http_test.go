package adminauth

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// login logs alice in through Login and returns the cookie and session.
func (f *fixture) login(t *testing.T, useTLS bool) (*http.Cookie, Session) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/admin/login", nil)
	if useTLS {
		r.TLS = &tls.ConnectionState{}
	}
	w := httptest.NewRecorder()
	sess, err := f.m.Login(w, r, "alice", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Login set %d cookies, want 1", len(cookies))
	}
	return cookies[0], sess
}

// cookieAttrs are the attributes a browser acts on.
type cookieAttrs struct {
	Name     string
	Path     string
	MaxAge   int
	HttpOnly bool
	Secure   bool
	SameSite http.SameSite
}

func attrs(c *http.Cookie) cookieAttrs {
	return cookieAttrs{c.Name, c.Path, c.MaxAge, c.HttpOnly, c.Secure, c.SameSite}
}

func TestLoginCookie(t *testing.T) {
	tests := []struct {
		name   string
		tls    bool
		cfg    Config
		secure bool
	}{
		{"plain HTTP", false, Config{}, false},
		{"TLS", true, Config{}, true},
		{"behind a TLS proxy", false, Config{SecureCookie: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			f.addAccount(t, "alice")
			c, sess := f.login(t, tt.tls)
			want := cookieAttrs{CookieName, "/", 12 * 3600, true, tt.secure, http.SameSiteStrictMode}
			if diff := cmp.Diff(want, attrs(c)); diff != "" {
				t.Errorf("cookie (-want +got):\n%s", diff)
			}
			got, ok := f.m.Sessions().Lookup(c.Value)
			if !ok || got.Account != "alice" || got.CSRF != sess.CSRF {
				t.Errorf("cookie value finds %+v, %v; want alice's session", got, ok)
			}
			if strings.Contains(f.log.String(), goodPassword) || strings.Contains(f.log.String(), c.Value) {
				t.Error("the password or the session id was logged")
			}
		})
	}
}

func TestLoginReplacesCarriedSession(t *testing.T) {
	f := newFixture(t, Config{})
	f.addAccount(t, "alice")
	old, _ := f.login(t, false)
	r := httptest.NewRequest(http.MethodPost, "/admin/login", nil)
	r.AddCookie(old)
	if _, err := f.m.Login(httptest.NewRecorder(), r, "alice", goodPassword); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.m.Sessions().Lookup(old.Value); ok {
		t.Error("the session carried into Login survived it")
	}
}

// problemOf decodes a problem+json answer to status, code and
// Retry-After.
func problemOf(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, w.Body)
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != w.Code || p.Type != "urn:presenced:problem:"+p.Code || p.Title == "" {
		t.Errorf("malformed problem %+v for status %d", p, w.Code)
	}
	return map[string]any{"status": w.Code, "code": p.Code, "retry-after": w.Header().Get("Retry-After")}
}

func TestLoginErrors(t *testing.T) {
	f := newFixture(t, Config{})
	f.addAccount(t, "alice")
	try := func(pw string, hdr map[string]string) map[string]any {
		r := httptest.NewRequest(http.MethodPost, "/admin/login", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		_, err := f.m.Login(w, r, "alice", pw)
		if err == nil {
			t.Fatalf("Login(%q) succeeded", pw)
		}
		if len(w.Result().Cookies()) != 0 {
			t.Errorf("refused Login set a cookie")
		}
		w = httptest.NewRecorder()
		f.m.WriteError(w, r, err)
		return problemOf(t, w)
	}
	got := []map[string]any{
		try(goodPassword, map[string]string{"Sec-Fetch-Site": "cross-site"}),
		try("wrong password!!", nil),
	}
	for range 4 {
		try("wrong password!!", nil)
	}
	got = append(got, try(goodPassword, nil))
	want := []map[string]any{
		{"status": 403, "code": "forbidden", "retry-after": ""},
		{"status": 401, "code": "unauthorized", "retry-after": ""},
		{"status": 429, "code": "rate_limited", "retry-after": "900"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (cross-site, wrong password, locked) (-want +got):\n%s", diff)
	}
}

func TestMiddleware(t *testing.T) {
	type req struct {
		method  string
		cookie  bool   // send the session cookie
		stale   bool   // send a cookie for a session that does not exist
		header  string // X-CSRF-Token: "right", "wrong" or ""
		form    string // csrf form field: "right", "wrong" or ""
		headers map[string]string
	}
	tests := []struct {
		name       string
		req        req
		wantStatus int
		wantCode   string
	}{
		{"GET without cookie", req{method: "GET"}, 401, "unauthorized"},
		{"GET with stale cookie", req{method: "GET", stale: true}, 401, "unauthorized"},
		{"GET with session", req{method: "GET", cookie: true}, 200, ""},
		{"HEAD needs no token", req{method: "HEAD", cookie: true}, 200, ""},
		{"POST without token", req{method: "POST", cookie: true}, 403, "forbidden"},
		{"POST without session", req{method: "POST", header: "right"}, 401, "unauthorized"},
		{"POST with header token", req{method: "POST", cookie: true, header: "right"}, 200, ""},
		{"POST with wrong header token", req{method: "POST", cookie: true, header: "wrong"}, 403, "forbidden"},
		{"POST with form token", req{method: "POST", cookie: true, form: "right"}, 200, ""},
		{"POST with wrong form token", req{method: "POST", cookie: true, form: "wrong"}, 403, "forbidden"},
		{"PUT without token", req{method: "PUT", cookie: true}, 403, "forbidden"},
		{"PATCH with token", req{method: "PATCH", cookie: true, header: "right"}, 200, ""},
		{"DELETE without token", req{method: "DELETE", cookie: true}, 403, "forbidden"},
		{"DELETE with token", req{method: "DELETE", cookie: true, header: "right"}, 200, ""},
		{"cross-site POST with token", req{method: "POST", cookie: true, header: "right",
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "forbidden"},
		{"same-origin POST with token", req{method: "POST", cookie: true, header: "right",
			headers: map[string]string{"Sec-Fetch-Site": "same-origin"}}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			f.addAccount(t, "alice")
			cookie, sess := f.login(t, false)
			token := map[string]string{"right": sess.CSRF, "wrong": sess.CSRF[:len(sess.CSRF)-1] + "x"}

			var seen Session
			var reached bool
			h := f.m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen, reached = FromContext(r.Context())
			}))
			var r *http.Request
			if tt.req.form != "" {
				body := url.Values{CSRFField: {token[tt.req.form]}}.Encode()
				r = httptest.NewRequest(tt.req.method, "/admin/settings", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest(tt.req.method, "/admin/settings", nil)
			}
			if tt.req.header != "" {
				r.Header.Set(CSRFHeader, token[tt.req.header])
			}
			for k, v := range tt.req.headers {
				r.Header.Set(k, v)
			}
			if tt.req.cookie {
				r.AddCookie(cookie)
			}
			if tt.req.stale {
				r.AddCookie(&http.Cookie{Name: CookieName, Value: newSecret()})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == 200 {
				if !reached || seen.Account != "alice" {
					t.Errorf("handler saw session %+v, %v; want alice's", seen, reached)
				}
				return
			}
			if reached {
				t.Error("refused request reached the handler")
			}
			if got := problemOf(t, w)["code"]; got != tt.wantCode {
				t.Errorf("problem code %v, want %s", got, tt.wantCode)
			}
			if tt.req.stale {
				cs := w.Result().Cookies()
				if len(cs) != 1 || cs[0].MaxAge != -1 || cs[0].Path != CookiePath {
					t.Errorf("stale cookie not cleared: %v", cs)
				}
			}
		})
	}
}

func TestLogout(t *testing.T) {
	f := newFixture(t, Config{})
	f.addAccount(t, "alice")
	cookie, sess := f.login(t, true)

	r := httptest.NewRequest(http.MethodPost, "/admin/logout", nil)
	r.AddCookie(cookie)
	if err := f.m.Logout(httptest.NewRecorder(), r); err == nil {
		t.Fatal("Logout without the CSRF token succeeded")
	}
	if _, ok := f.m.Sessions().Lookup(cookie.Value); !ok {
		t.Fatal("refused Logout ended the session")
	}

	r = httptest.NewRequest(http.MethodPost, "/admin/logout", nil)
	r.TLS = &tls.ConnectionState{}
	r.AddCookie(cookie)
	r.Header.Set(CSRFHeader, sess.CSRF)
	w := httptest.NewRecorder()
	if err := f.m.Logout(w, r); err != nil {
		t.Fatal(err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("Logout set %d cookies, want 1", len(cs))
	}
	want := cookieAttrs{CookieName, CookiePath, -1, true, true, http.SameSiteStrictMode}
	if diff := cmp.Diff(want, attrs(cs[0])); diff != "" {
		t.Errorf("clearing cookie (-want +got):\n%s", diff)
	}

	// The old cookie no longer opens anything.
	r = httptest.NewRequest(http.MethodGet, "/admin/", nil)
	r.AddCookie(cookie)
	w = httptest.NewRecorder()
	f.m.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("after logout: status %d, want 401", w.Code)
	}
}
