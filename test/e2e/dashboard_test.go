package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/presenced/presenced/internal/browsertest"
)

// TestDashboard drives the real binary's dashboard in a real chromium: a
// wrong password is refused, the right one opens the overview, the TTL
// and the allowlist are changed through the settings page and take
// effect (an excluded domain's contact turns Unknown/domain_not_allowed
// for a client), and a change without the CSRF token is refused.
// Screenshots of each page go to artifacts/screenshots.
func TestDashboard(t *testing.T) {
	in := newInstance(t, "")
	if _, errOut, code := run(t, []string{"PRESENCED_ADMIN_PASSWORD=dashboard passphrase"}, "admin", "account", "create", "--data-dir", in.dataDir, "root"); code != 0 {
		t.Fatalf("admin account create: %d %s", code, errOut)
	}
	alice := in.token("alice@example.com")
	admin := in.adminToken()
	in.start()

	b := browsertest.New(t)
	ctx := b.Tab(t)
	if err := browsertest.Viewport(ctx, 1280, 800); err != nil {
		t.Fatal(err)
	}
	browsertest.Do(t, ctx, chromedp.Navigate(in.admin+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#login-name")))
	browsertest.Screenshot(t, ctx, "dashboard-login")
	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#login-name"), "root"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "not the password"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	if msg := browsertest.Get(t, ctx, chromedp.Text(chromedp.CSS("#login-error"))); msg == "" {
		t.Error("a wrong password showed no error")
	}
	// The right password, with the keyboard only: Tab from the account
	// field to the password, Enter submits.
	browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("login-password").value = ""`))
	browsertest.Do(t, ctx, chromedp.Focus(chromedp.CSS("#login-name")), chromedp.KeyEvent("\t"))
	if id := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.activeElement.id`)); id != "login-password" {
		t.Errorf("Tab from the account field went to %q, want login-password", id)
	}
	browsertest.Do(t, ctx,
		chromedp.KeyEvent("dashboard passphrase"),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("#page-overview")),
	)
	browsertest.Get(t, ctx, chromedp.Poll[bool](`document.getElementById("counts").textContent.trim().length > 0`))
	browsertest.Screenshot(t, ctx, "dashboard-overview")

	browsertest.Do(t, ctx,
		chromedp.Navigate(in.admin+"/admin/settings"),
		chromedp.WaitVisible(chromedp.CSS("#ttl")),
	)
	browsertest.Get(t, ctx, chromedp.Poll[bool](`document.getElementById("ttl").value === "180"`))
	browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("ttl").value = "300"`))
	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS("#allowlist-enabled")),
		chromedp.SendKeys(chromedp.CSS("#domains"), "Example.com; example.com"),
		chromedp.Click(chromedp.CSS("#settings-test")),
	)
	// Test: the server's dry run lists what Save would change, and
	// nothing changes yet.
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/Saving would make these changes/.test(document.getElementById("settings-result").textContent)`))
	if res := browsertest.Get(t, ctx, chromedp.Text(chromedp.CSS("#settings-result"))); !strings.Contains(res, "180 s → 300 s") || !strings.Contains(res, "Add 1 domain(s): example.com") {
		t.Errorf("Test result:\n%s", res)
	}
	var before struct {
		SubscriptionTTL int `json:"subscription_ttl"`
	}
	if in.call("GET", in.admin+"/v1/admin/settings", admin, nil, &before); before.SubscriptionTTL != 180 {
		t.Errorf("TTL %d after Test, want 180 (Test changes nothing)", before.SubscriptionTTL)
	}
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#settings-save")))
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/Saved/.test(document.getElementById("settings-result").textContent)`))
	browsertest.Screenshot(t, ctx, "dashboard-settings")

	var settings struct {
		SubscriptionTTL int `json:"subscription_ttl"`
		Allowlist       struct {
			Enabled bool     `json:"enabled"`
			Domains []string `json:"domains"`
		} `json:"allowlist"`
	}
	if code := in.call("GET", in.admin+"/v1/admin/settings", admin, nil, &settings); code != 200 || settings.SubscriptionTTL != 300 || !settings.Allowlist.Enabled || len(settings.Allowlist.Domains) != 1 {
		t.Fatalf("settings after the dashboard's Save: %d %+v", code, settings)
	}
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"bob@example.com", "eve@other.org"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	eve, _ := find(in.changes(alice, sub.ID, 0).Presence, "eve@other.org")
	if eve.Availability != "Unknown" || eve.Reason != "domain_not_allowed" {
		t.Errorf("eve@other.org after the allowlist change: %+v, want Unknown/domain_not_allowed", eve)
	}
	// Every page, at a laptop's and at a phone's width: each has its
	// heading and a labelled control for every input, and nothing is
	// wider than the phone's screen.
	browsertest.Do(t, ctx,
		chromedp.Navigate(in.admin+"/admin/subscriptions"),
		chromedp.WaitVisible(chromedp.CSS("#subs-user")),
		chromedp.SendKeys(chromedp.CSS("#subs-user"), "alice@example.com\r"),
	)
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/eve@other\.org/.test(document.getElementById("subs-result").textContent)`))
	browsertest.Screenshot(t, ctx, "dashboard-subscriptions")
	for _, width := range []int{1280, 390} {
		if err := browsertest.Viewport(ctx, width, 844); err != nil {
			t.Fatal(err)
		}
		for _, page := range []string{"overview", "settings", "backend", "endpoints", "subscriptions", "audit"} {
			browsertest.Do(t, ctx, chromedp.Navigate(in.admin+"/admin/"+page), chromedp.WaitVisible(chromedp.CSS("#page-"+page+" h1")))
			browsertest.Get(t, ctx, chromedp.Poll[bool](`document.readyState === "complete"`))
			if page == "overview" && width > 1000 {
				// A few polls, so that the charts have a history (the
				// README shows this screenshot).
				browsertest.Get(t, ctx, chromedp.Poll[bool](`document.querySelector("#counts polyline").getAttribute("points").split(" ").length >= 3`))
			}
			unlabelled := browsertest.Get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main > section:not([hidden]) input, main > section:not([hidden]) select, main > section:not([hidden]) textarea")].filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id)`))
			if len(unlabelled) > 0 {
				t.Errorf("%s: inputs without a label: %v", page, unlabelled)
			}
			if width < 1000 {
				if over := browsertest.Get(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); over {
					t.Errorf("%s is wider than a %d px phone screen", page, width)
				}
				browsertest.Screenshot(t, ctx, "dashboard-"+page+"-phone")
			} else {
				browsertest.Screenshot(t, ctx, "dashboard-"+page)
			}
		}
	}
	if errs := browsertest.ConsoleErrors(ctx); len(errs) > 0 {
		t.Errorf("console errors: %+v", errs)
	}

	// A new tab of the same browser takes over the live session: no new
	// login.
	tab2 := b.Tab(t)
	browsertest.Do(t, tab2, chromedp.Navigate(in.admin+"/admin/settings"), chromedp.WaitVisible(chromedp.CSS("#page-settings")))
	browsertest.Get(t, tab2, chromedp.Poll[bool](`document.getElementById("ttl").value === "300"`))

	// A session without the CSRF token cannot change anything.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	body, _ := json.Marshal(map[string]string{"name": "root", "password": "dashboard passphrase"})
	resp, err := hc.Post(in.admin+"/admin/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login over HTTP: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("PUT", in.admin+"/v1/admin/settings", strings.NewReader(`{"subscription_ttl":60,"allowlist":{"enabled":false,"domains":[]}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a change without the CSRF token: %d, want 403", resp.StatusCode)
	}
}

// TestDashboardBackendTest: on a SIP backend whose server is down, the
// backend page's Test runs the real check and shows the step that failed
// and why.
func TestDashboardBackendTest(t *testing.T) {
	sipAddr := freePort(t) // nothing listens there
	in := newInstance(t, sipYAML(sipAddr))
	if _, errOut, code := run(t, []string{"PRESENCED_ADMIN_PASSWORD=dashboard passphrase"}, "admin", "account", "create", "--data-dir", in.dataDir, "root"); code != 0 {
		t.Fatalf("admin account create: %d %s", code, errOut)
	}
	in.notReady = true
	in.start()

	b := browsertest.New(t)
	ctx := b.Tab(t)
	logIn(t, ctx, in, "backend", "root", "dashboard passphrase")
	browsertest.Do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#backend-test")), chromedp.Click(chromedp.CSS("#backend-test")))
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/refused/.test(document.getElementById("backend-steps").textContent)`))
	steps := browsertest.Get(t, ctx, chromedp.Text(chromedp.CSS("#backend-steps")))
	if !strings.Contains(steps, sipAddr) {
		t.Errorf("the failing step does not name the server %s:\n%s", sipAddr, steps)
	}
	browsertest.Screenshot(t, ctx, "dashboard-backend-test")
}

// logIn opens page of the dashboard in the tab of ctx, logs in there as
// name and waits for the page.
func logIn(t *testing.T, ctx context.Context, in *instance, page, name, password string) {
	t.Helper()
	browsertest.Do(t, ctx,
		chromedp.Navigate(in.admin+"/admin/"+page),
		chromedp.WaitVisible(chromedp.CSS("#login-name")),
		chromedp.SendKeys(chromedp.CSS("#login-name"), name),
		chromedp.SendKeys(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#page-"+page)),
	)
}
