package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/presenced/presenced/internal/browsertest"
	"github.com/presenced/presenced/internal/directory/slapdtest"
	"github.com/presenced/presenced/internal/sip/kamailiotest"
	"github.com/presenced/presenced/internal/sip/watcher"
	"github.com/presenced/presenced/internal/status"
)

// TestDashboardDirectoryLoginAndBackendSave runs presenced on a SIP
// backend whose server is wrong, with a real OpenLDAP as its directory
// and an admin group there. A directory account of the group logs in to
// the dashboard (one outside the group is refused), fixes the server on
// the backend page, tests it (every step passes against the real
// Kamailio) and saves it: the running gateway switches to the new server
// at once, the client subscription made before carries over and sees the
// contact's presence from Kamailio, the audit log page shows who changed
// what, and after a restart the saved server is still the one used.
func TestDashboardDirectoryLoginAndBackendSave(t *testing.T) {
	const adaPassword = "ada's long passphrase"
	admins := slapdtest.Group{CN: "presenced-admins", Members: []string{"ada"}}
	dir := slapdtest.Start(t, slapdtest.Options{
		Users: []slapdtest.User{
			{SAMAccountName: "ada", Mail: "ada@example.com", DisplayName: "Ada Admin", Password: adaPassword},
			{SAMAccountName: "grace", Mail: "grace@example.com", DisplayName: "Grace Other", Password: "grace's long passphrase"},
			{SAMAccountName: "bob", Mail: "bob@example.com", DisplayName: "Bob Baker", SIPAddress: "sip:bob@example.com"},
		},
		Groups: []slapdtest.Group{admins},
	})
	k := kamailiotest.Start(t, kamailiotest.Options{})
	deadSIP := freePort(t) // nothing listens there
	in := newInstance(t, sipYAML(deadSIP)+ldapYAML(dir)+fmt.Sprintf("dashboard:\n  directory_group: %q\n", dir.GroupDN(admins)),
		"PRESENCED_DIRECTORY_LDAP_BIND_PASSWORD="+dir.BindPassword())
	alice := in.token("alice@example.com")
	in.notReady = true
	in.start()

	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", alice, map[string]any{"users": []string{"bob@example.com"}}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}

	// Outside the group, or with a wrong password: refused.
	for _, c := range []struct{ name, password string }{{"grace@example.com", "grace's long passphrase"}, {"ada@example.com", "wrong password"}} {
		if code := in.call("POST", in.admin+"/admin/api/login", "", map[string]string{"name": c.name, "password": c.password}, nil); code != http.StatusUnauthorized {
			t.Errorf("login as %s: %d, want 401", c.name, code)
		}
	}

	b := browsertest.New(t)
	ctx := b.Tab(t)
	if err := browsertest.Viewport(ctx, 1280, 900); err != nil {
		t.Fatal(err)
	}
	logIn(t, ctx, in, "backend", "ada@example.com", adaPassword)
	browsertest.Do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#f-backend-sip-server")))
	if v := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("f-backend-sip-server").value`)); v != deadSIP {
		t.Fatalf("server field shows %q, want %q", v, deadSIP)
	}
	// The bind password comes from the environment: read-only here.
	if ro := browsertest.Get(t, ctx, chromedp.Evaluate[bool](`document.getElementById("f-directory-ldap-bind_password").readOnly`)); !ro {
		t.Error("a field set by the environment is editable")
	}
	// A value the configuration refuses is shown next to its field.
	browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("f-backend-max_subscriptions_per_endpoint").value = "6000"`))
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#backend-test")), chromedp.WaitVisible(chromedp.CSS("#f-backend-max_subscriptions_per_endpoint-error")))
	if msg := browsertest.Get(t, ctx, chromedp.Text(chromedp.CSS("#f-backend-max_subscriptions_per_endpoint-error"))); !strings.Contains(msg, "5000") {
		t.Errorf("the field's error says %q, want the allowed range", msg)
	}
	if focused := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.activeElement.id`)); focused != "f-backend-max_subscriptions_per_endpoint" {
		t.Errorf("focus on %q after the refusal, want the field at fault", focused)
	}
	browsertest.Screenshot(t, ctx, "dashboard-backend-field-error")
	browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("f-backend-max_subscriptions_per_endpoint").value = "1000"`))
	browsertest.Get(t, ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById("f-backend-sip-server").value = %q`, k.Addr())))
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#backend-test")))
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/All steps passed/.test(document.getElementById("backend-summary").textContent)`))
	if steps := browsertest.Get(t, ctx, chromedp.Text(chromedp.CSS("#backend-steps"))); !strings.Contains(steps, "OPTIONS") || !strings.Contains(steps, "directory") {
		t.Errorf("the test steps do not show the SIP OPTIONS and the directory checks:\n%s", steps)
	}
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#backend-save")))
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/Saved and applied/.test(document.getElementById("backend-summary").textContent)`))
	browsertest.Screenshot(t, ctx, "dashboard-backend-saved")

	// The new server is used at once; the subscription made before the
	// Save carries over and sees bob's presence from Kamailio.
	eventually(t, "ready on the saved server", func() bool {
		resp, err := in.http.Get(in.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	sw, err := watcher.New(watcher.Config{Server: k.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	publishAs(t, sw, "sip:bob@example.com", status.Presence{Availability: status.Busy, Note: "after the save"}, "")
	eventually(t, "bob's presence through the saved server", func() bool {
		p, _ := find(in.changes(alice, sub.ID, 0).Presence, "bob@example.com")
		return p.Availability == "Busy" && p.Note == "after the save"
	})

	// The audit log page shows who changed what.
	browsertest.Do(t, ctx, chromedp.Navigate(in.admin+"/admin/audit"), chromedp.WaitVisible(chromedp.CSS("#audit-rows")))
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/backend\.update/.test(document.getElementById("audit-rows").textContent)`))
	rows := browsertest.Get(t, ctx, chromedp.Text(chromedp.CSS("#audit-rows")))
	for _, want := range []string{"directory:ada@example.com", deadSIP, k.Addr()} {
		if !strings.Contains(rows, want) {
			t.Errorf("audit log lacks %q:\n%s", want, rows)
		}
	}
	browsertest.Screenshot(t, ctx, "dashboard-audit")
	if errs := browsertest.ConsoleErrors(ctx); len(errs) > 0 {
		t.Errorf("console errors: %+v", errs)
	}

	// Persisted: after a restart the saved server is used (ready again).
	in.stop()
	in.notReady = false
	in.start()
	var form struct {
		SavedBy string `json:"saved_by"`
	}
	if code := in.call("GET", in.admin+"/admin/api/backend", in.adminToken(), nil, &form); code != 200 || form.SavedBy != "directory:ada@example.com" {
		t.Errorf("backend page after restart: %d %+v", code, form)
	}

	// "Use the configuration file" (two clicks) forgets the saved values:
	// the file's server applies again.
	logIn(t, ctx, in, "backend", "ada@example.com", adaPassword)
	browsertest.Do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#backend-reset")), chromedp.Click(chromedp.CSS("#backend-reset")))
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/Click again/.test(document.getElementById("backend-summary").textContent)`))
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#backend-reset")))
	browsertest.Get(t, ctx, chromedp.Poll[bool](`/Saved and applied/.test(document.getElementById("backend-summary").textContent)`))
	if v := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.getElementById("f-backend-sip-server").value`)); v != deadSIP {
		t.Errorf("server after the reset %q, want the file's %q", v, deadSIP)
	}
	if hidden := browsertest.Get(t, ctx, chromedp.Evaluate[bool](`document.getElementById("backend-reset").hidden`)); !hidden {
		t.Error("the reset button is still offered with nothing saved")
	}
}

// TestDashboardSetupToken: with no admin account, presenced prints a
// one-time setup token at start; the login page offers the setup page,
// a wrong token is refused next to its field, the right one creates the
// first account and logs in, and the token cannot be used again.
func TestDashboardSetupToken(t *testing.T) {
	in := newInstance(t, "")
	in.start()
	var token string
	eventually(t, "setup token printed", func() bool {
		token = regexp.MustCompile(`pcdsetup_[A-Za-z0-9_-]+`).FindString(in.logs.String())
		return token != ""
	})
	if n := strings.Count(in.logs.String(), token); n != 1 {
		t.Errorf("the setup token appears %d times in the output, want once (on the console, not in a log line)", n)
	}

	b := browsertest.New(t)
	ctx := b.Tab(t)
	browsertest.Do(t, ctx,
		chromedp.Navigate(in.admin+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS("#login-setup a")),
		chromedp.Click(chromedp.CSS("#login-setup a")),
		chromedp.WaitVisible(chromedp.CSS("#setup-token")),
		chromedp.SendKeys(chromedp.CSS("#setup-token"), "pcdsetup_wrong"),
		chromedp.SendKeys(chromedp.CSS("#setup-name"), "first-admin"),
		chromedp.SendKeys(chromedp.CSS("#setup-password"), "first admin passphrase"),
		chromedp.SendKeys(chromedp.CSS("#setup-password2"), "first admin passphrase"),
		chromedp.Click(chromedp.CSS("#setup-submit")),
		chromedp.WaitVisible(chromedp.CSS("#setup-token-error")),
	)
	browsertest.Screenshot(t, ctx, "dashboard-setup")
	browsertest.Get(t, ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById("setup-token").value = %q`, token)))
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#setup-submit")), chromedp.WaitVisible(chromedp.CSS("#page-overview")))

	var setup struct{ Needed bool }
	if code := in.call("GET", in.admin+"/admin/api/setup", "", nil, &setup); code != 200 || setup.Needed {
		t.Errorf("setup after the first account: %d %+v, want not needed", code, setup)
	}
	if code := in.call("POST", in.admin+"/admin/api/setup", "", map[string]string{"token": token, "name": "second", "password": "second admin passphrase"}, nil); code != http.StatusForbidden {
		t.Errorf("the setup token used again: %d, want 403", code)
	}
	if code := in.call("POST", in.admin+"/admin/api/login", "", map[string]string{"name": "first-admin", "password": "first admin passphrase"}, nil); code != 200 {
		t.Errorf("login as the first account: %d", code)
	}
	if errs := browsertest.ConsoleErrors(ctx); len(errs) > 0 {
		t.Errorf("console errors: %+v", errs)
	}
}
