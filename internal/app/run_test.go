package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/testserver"
)

// runFixture runs app.Run, as presenced serve does, on loopback ports.
type runFixture struct {
	t           *testing.T
	cfg         config.Config
	client      string
	admin       string
	adminToken  string
	clientToken string
	console     bytes.Buffer
	stop        context.CancelFunc
	done        chan error
	http        *http.Client
}

func freeAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)) }

func startRun(t *testing.T) *runFixture {
	t.Helper()
	f := &runFixture{t: t, client: freeAddr(t), admin: freeAddr(t), done: make(chan error, 1), http: &http.Client{Timeout: 10 * time.Second}}
	src := config.Source{Flags: map[string]string{"listen": f.client, "admin_listen": f.admin, "data_dir": t.TempDir()}}
	cfg, err := config.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx := context.Background()
	if f.adminToken, err = CreateAdminToken(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	if f.clientToken, err = CreateToken(ctx, cfg, "alice@example.com", log); err != nil {
		t.Fatal(err)
	}
	ctx, f.stop = context.WithCancel(ctx)
	go func() { f.done <- Run(ctx, cfg, log, RunOptions{Source: src, Console: &f.console}) }()
	t.Cleanup(f.shutdown)
	f.eventually("ready", func() bool { return f.call("GET", f.admin, "/readyz", "", nil, nil) == http.StatusOK })
	return f
}

// shutdown stops Run and waits for it (once; later calls do nothing).
func (f *runFixture) shutdown() {
	f.t.Helper()
	f.stop()
	if f.done == nil {
		return
	}
	select {
	case err := <-f.done:
		if err != nil {
			f.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		f.t.Error("Run did not return after its context ended")
	}
	f.done = nil
	f.http.CloseIdleConnections()
}

// call sends a request and decodes a JSON answer into out; 0 when the
// server did not answer (between starts).
func (f *runFixture) call(method, addr, path, token string, body, out any) int {
	f.t.Helper()
	code, err := testserver.CallJSON(f.http, method, "http://"+addr+path, token, body, out)
	if err != nil && code == 0 {
		return 0
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return code
}

// eventually polls cond until it holds; the limit only guards against a
// hang.
func (f *runFixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type backendFormJSON struct {
	Generation int64  `json:"generation"`
	Pending    int64  `json:"pending"`
	Error      string `json:"error"`
	SavedBy    string `json:"saved_by"`
}

func (f *runFixture) form() backendFormJSON {
	var form backendFormJSON
	f.call("GET", f.admin, "/admin/api/backend", f.adminToken, nil, &form)
	return form
}

func (f *runFixture) save(values map[string]string) int64 {
	f.t.Helper()
	var res struct{ Generation int64 }
	if code := f.call("PUT", f.admin, "/admin/api/backend", f.adminToken, map[string]any{"values": values}, &res); code != http.StatusAccepted {
		f.t.Fatalf("save: %d", code)
	}
	return res.Generation
}

func (f *runFixture) endpointMax() int {
	var eps struct{ Endpoints []struct{ Max int } }
	if code := f.call("GET", f.admin, "/v1/admin/endpoints", f.adminToken, nil, &eps); code != 200 || len(eps.Endpoints) == 0 {
		return -1
	}
	return eps.Endpoints[0].Max
}

// TestRunAppliesSavedBackend: a backend Save starts a new generation of
// the gateway on the same listeners with the new values; the client
// subscription made before carries over; the first start printed a setup
// token; nothing leaks once Run returns.
func TestRunAppliesSavedBackend(t *testing.T) {
	// Registered first, so that it runs after Run has returned.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	f := startRun(t)
	if !bytes.Contains(f.console.Bytes(), []byte("pcdsetup_")) {
		t.Errorf("no setup token on the console:\n%s", f.console.String())
	}
	var sub struct{ ID string }
	if code := f.call("POST", f.client, "/v1/subscriptions", f.clientToken, map[string]any{"users": []string{"bob@example.com"}}, &sub); code != http.StatusCreated {
		t.Fatalf("subscribe: %d", code)
	}
	gen := f.save(map[string]string{"backend.max_subscriptions_per_endpoint": "500"})
	if gen != 2 {
		t.Fatalf("save asked for generation %d, want 2", gen)
	}
	f.eventually("generation 2", func() bool { return f.form().Generation == 2 })
	if got := f.endpointMax(); got != 500 {
		t.Errorf("endpoint capacity %d after the Save, want 500", got)
	}
	if code := f.call("GET", f.client, "/v1/subscriptions/"+sub.ID+"/changes?since=0", f.clientToken, nil, nil); code != http.StatusOK {
		t.Errorf("the subscription made before the Save: %d, want 200", code)
	}
	if form := f.form(); form.SavedBy == "" || form.Error != "" || form.Pending != 2 {
		t.Errorf("form after the Save: %+v", form)
	}

	// Reset: the saved values are forgotten and the file's apply again.
	var res struct{ Generation int64 }
	if code := f.call("DELETE", f.admin, "/admin/api/backend", f.adminToken, nil, &res); code != http.StatusAccepted || res.Generation != 3 {
		t.Fatalf("reset: %d, generation %d; want 202, 3", code, res.Generation)
	}
	f.eventually("generation 3", func() bool { return f.form().Generation == 3 })
	if got := f.endpointMax(); got != 1000 {
		t.Errorf("endpoint capacity %d after the reset, want the default 1000", got)
	}
	if form := f.form(); form.SavedBy != "" {
		t.Errorf("form after the reset says saved by %q", form.SavedBy)
	}
	var audit struct{ Entries []struct{ Action string } }
	f.call("GET", f.admin, "/admin/api/audit?limit=5", f.adminToken, nil, &audit)
	if len(audit.Entries) < 2 || audit.Entries[0].Action != "backend.reset" || audit.Entries[1].Action != "backend.update" {
		t.Errorf("audit log %+v, want backend.reset after backend.update", audit.Entries)
	}
}

// TestRunRollsBackAGenerationThatCannotStart: when the saved values pass
// the checks but the gateway cannot be built on them, the previous values
// are put back and run again, and the page says why.
func TestRunRollsBackAGenerationThatCannotStart(t *testing.T) {
	build := newGateway
	newGateway = func(ctx context.Context, cfg config.Config, opts Options) (*Gateway, error) {
		if cfg.Backend.MaxSubscriptionsPerEndpoint == 7 {
			return nil, errors.New("injected failure")
		}
		return build(ctx, cfg, opts)
	}
	t.Cleanup(func() { newGateway = build })
	f := startRun(t)
	f.save(map[string]string{"backend.max_subscriptions_per_endpoint": "300"})
	f.eventually("generation 2", func() bool { return f.form().Generation == 2 })
	f.save(map[string]string{"backend.max_subscriptions_per_endpoint": "7"})
	var form backendFormJSON
	f.eventually("the failure reported", func() bool { form = f.form(); return form.Error != "" })
	if form.Generation != 2 || form.Pending != 2 {
		t.Errorf("after the failed generation: %+v, want generation and pending 2", form)
	}
	if got := f.endpointMax(); got != 300 {
		t.Errorf("endpoint capacity %d, want 300 (the previous values run again)", got)
	}
	var page struct {
		Sections []struct {
			Fields []struct{ Key, Value string }
		}
	}
	f.call("GET", f.admin, "/admin/api/backend", f.adminToken, nil, &page)
	found := false
	for _, s := range page.Sections {
		for _, fd := range s.Fields {
			if fd.Key == "backend.max_subscriptions_per_endpoint" {
				found = true
				if fd.Value != "300" {
					t.Errorf("the page shows %s, want 300", fd.Value)
				}
			}
		}
	}
	if !found {
		t.Error("no max subscriptions field")
	}
	// The store holds the values that run, not the ones that failed.
	f.shutdown()
	st, err := openStore(context.Background(), f.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sc, err := st.Config().Get(context.Background())
	if err != nil || sc.Values["backend.max_subscriptions_per_endpoint"] != "300" {
		t.Errorf("stored after the rollback: %+v, %v; want max 300", sc.Values, err)
	}
}
