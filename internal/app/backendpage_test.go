package app

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/api"
	"github.com/presenced/presenced/internal/clock/clocktest"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// pageFixture is a backend page over cfg whose Saves are recorded instead
// of restarting anything.
type pageFixture struct {
	page    *backendPage
	saved   store.ConfigStore
	applied []config.Config
}

func newPageFixture(t *testing.T, cfg config.Config, env ...string) *pageFixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &pageFixture{saved: st.Config()}
	envValues := map[string]string{}
	for _, kv := range env {
		envValues[kv] = kv
	}
	f.page = &backendPage{
		load: func(saved map[string]any) (config.Config, error) { return config.Overlay(cfg, saved) },
		origins: func(saved map[string]any) map[string]string {
			out := config.Origins(config.Source{Saved: saved})
			for key, name := range map[string]string{"backend.sip.auth.username": "PRESENCED_BACKEND_SIP_AUTH_USERNAME"} {
				if _, set := envValues[name]; set {
					out[key] = name
				}
			}
			return out
		},
		saved: st.Config(), clk: clocktest.New(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)),
		apply: func(c config.Config, _ store.SavedConfig) int64 {
			f.applied = append(f.applied, c)
			return int64(len(f.applied)) + 1
		},
	}
	f.page.running(cfg, 1)
	return f
}

func sipConfig() config.Config {
	c := config.Default()
	c.Backend.Kind = config.BackendSIP
	c.Backend.Endpoints = []string{"sip:presence_a@example.com"}
	c.Backend.SIP.Server, c.Backend.SIP.Transport, c.Backend.SIP.Domain = "127.0.0.1:1", "tcp", "example.com"
	c.Backend.SIP.Auth.Password = "old-secret"
	return c
}

func fieldsAtFault(t *testing.T, err error) []string {
	t.Helper()
	var p *api.Problem
	if !errors.As(err, &p) || p.Code != api.CodeInvalidRequest {
		t.Fatalf("error %v, want an invalid_request problem", err)
	}
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

func TestBackendPageRefusals(t *testing.T) {
	f := newPageFixture(t, sipConfig(), "PRESENCED_BACKEND_SIP_AUTH_USERNAME")
	ctx := context.Background()
	tests := []struct {
		name   string
		values map[string]string
		want   []string
	}{
		{"range", map[string]string{"backend.max_subscriptions_per_endpoint": "6000"}, []string{"backend.max_subscriptions_per_endpoint"}},
		{"type", map[string]string{"backend.sip.endpoint_count": "many"}, []string{"backend.sip.endpoint_count"}},
		{"choice", map[string]string{"backend.sip.transport": "udp"}, []string{"backend.sip.transport"}},
		{"several", map[string]string{"backend.sip.transport": "udp", "backend.max_subscriptions_per_endpoint": "0"}, []string{"backend.max_subscriptions_per_endpoint", "backend.sip.transport"}},
		{"not on the page", map[string]string{"listen": ":1", "backend.xmpp.mode": "accounts"}, []string{"backend.xmpp.mode", "listen"}},
		{"set by the environment", map[string]string{"backend.sip.auth.username": "x"}, []string{"backend.sip.auth.username"}},
		{"missing PKCS#12 file", map[string]string{"backend.sip.transport": "tls", "backend.sip.tls.client_pkcs12": "/nonexistent.p12", "backend.sip.tls.client_friendly_name": "x"}, []string{"backend.sip.tls.client_pkcs12"}},
		{"missing directory trust store", map[string]string{"directory.kind": "ldap", "directory.ldap.url": "ldap://127.0.0.1:1", "directory.ldap.bind_dn": "cn=svc,dc=example,dc=com", "directory.ldap.bind_password": "pw", "directory.ldap.trust_store": "/nonexistent"}, []string{"directory.ldap.trust_store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.page.Save(ctx, "root", tt.values)
			if diff := cmp.Diff(tt.want, fieldsAtFault(t, err)); diff != "" {
				t.Errorf("fields at fault (-want +got):\n%s", diff)
			}
			if _, err := f.page.Test(ctx, tt.values); err == nil {
				t.Error("Test accepted what Save refused")
			}
		})
	}
	if len(f.applied) != 0 {
		t.Errorf("refused Saves applied %d configurations", len(f.applied))
	}
	if _, err := f.saved.Get(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused Saves stored something: %v", err)
	}
}

func TestBackendPageSave(t *testing.T) {
	f := newPageFixture(t, sipConfig())
	ctx := context.Background()
	res, err := f.page.Save(ctx, "root", map[string]string{
		"backend.sip.server":        "127.0.0.1:5070",
		"backend.sip.auth.password": "new-secret",
		"backend.sip.auth.username": "",            // unchanged (empty both times)
		"backend.sip.domain":        "example.com", // unchanged
		"backend.endpoints":         "sip:presence_a@example.com\nsip:presence_b@example.com",
	})
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	wantBefore := map[string]string{"backend.sip.server": "127.0.0.1:1", "backend.sip.auth.password": "(set)", "backend.endpoints": "sip:presence_a@example.com"}
	wantAfter := map[string]string{"backend.sip.server": "127.0.0.1:5070", "backend.sip.auth.password": "(changed)", "backend.endpoints": "sip:presence_a@example.com\nsip:presence_b@example.com"}
	if diff := cmp.Diff(wantBefore, res.Before); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAfter, res.After); diff != "" {
		t.Errorf("after (-want +got):\n%s", diff)
	}
	if res.Generation != 2 || len(f.applied) != 1 {
		t.Fatalf("generation %d, %d applied; want 2, 1", res.Generation, len(f.applied))
	}
	got := f.applied[0].Backend
	if got.SIP.Server != "127.0.0.1:5070" || got.SIP.Auth.Password != "new-secret" || !cmp.Equal(got.Endpoints, []string{"sip:presence_a@example.com", "sip:presence_b@example.com"}) {
		t.Errorf("applied backend %+v", got)
	}
	sc, err := f.saved.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sc.UpdatedBy != "root" || sc.Values["backend.sip.server"] != "127.0.0.1:5070" || len(sc.Values) != 3 {
		t.Errorf("stored %+v", sc)
	}
	form, err := f.page.Form(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if form.Pending != 2 || form.Generation != 1 || form.SavedBy != "root" {
		t.Errorf("form after Save: generation %d pending %d saved by %q", form.Generation, form.Pending, form.SavedBy)
	}
	// Once the new generation runs, the form shows its values, and
	// where they come from.
	f.page.running(f.applied[0], 2)
	form, _ = f.page.Form(ctx)
	for _, s := range form.Sections {
		for _, fd := range s.Fields {
			if fd.Key == "backend.sip.server" && (fd.Value != "127.0.0.1:5070" || fd.Origin != config.OriginSaved) {
				t.Errorf("server field after the new generation: %+v", fd)
			}
			if fd.Type == "secret" && fd.Value != "" {
				t.Errorf("secret %s sent to the page", fd.Key)
			}
		}
	}
	// Saving nothing new changes nothing.
	if res, err := f.page.Save(ctx, "root", map[string]string{"backend.sip.server": "127.0.0.1:5070"}); err != nil || len(res.After) != 0 || len(f.applied) != 1 {
		t.Errorf("Save of the same value: %+v, %v, %d applied", res, err, len(f.applied))
	}
}

func TestBackendPageXMPPClusters(t *testing.T) {
	c := config.Default()
	c.Backend.Kind = config.BackendXMPP
	c.Backend.XMPP.Clusters = []config.XMPPCluster{
		{Name: "main", Server: "127.0.0.1:5347", Component: "presence.example.com", Secret: "component-secret", XMPPDomain: "example.com", TLS: "none"},
	}
	f := newPageFixture(t, c)
	ctx := context.Background()
	_, err := f.page.Save(ctx, "root", map[string]string{"backend.xmpp.clusters.0.server": "no-port"})
	if diff := cmp.Diff([]string{"backend.xmpp.clusters.0.server"}, fieldsAtFault(t, err)); diff != "" {
		t.Errorf("fields at fault (-want +got):\n%s", diff)
	}
	_, err = f.page.Save(ctx, "root", map[string]string{"backend.xmpp.clusters.3.server": "x:1"})
	if diff := cmp.Diff([]string{"backend.xmpp.clusters.3.server"}, fieldsAtFault(t, err)); diff != "" {
		t.Errorf("fields at fault (-want +got):\n%s", diff)
	}
	if _, err := f.page.Save(ctx, "root", map[string]string{"backend.xmpp.clusters.0.server": "127.0.0.1:5348"}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got := f.applied[0].Backend.XMPP.Clusters
	want := []config.XMPPCluster{{Name: "main", Server: "127.0.0.1:5348", Component: "presence.example.com", Secret: "component-secret", XMPPDomain: "example.com", TLS: "none"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("applied clusters (-want +got):\n%s", diff)
	}
}

// TestBackendPageConcurrentSaves: two admins saving different fields at
// once both have their change stored (no lost update).
func TestBackendPageConcurrentSaves(t *testing.T) {
	f := newPageFixture(t, sipConfig())
	ctx := context.Background()
	done := make(chan error, 2)
	go func() {
		_, err := f.page.Save(ctx, "ada", map[string]string{"backend.sip.server": "127.0.0.1:5071"})
		done <- err
	}()
	go func() {
		_, err := f.page.Save(ctx, "grace", map[string]string{"backend.sip.auth.username": "gw"})
		done <- err
	}()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	sc, err := f.saved.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Values["backend.sip.server"] != "127.0.0.1:5071" || sc.Values["backend.sip.auth.username"] != "gw" {
		t.Errorf("stored %v, want both changes", sc.Values)
	}
}
