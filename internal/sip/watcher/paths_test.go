package watcher_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/sip/kamailiotest"
	"github.com/presenced/presenced/internal/sip/locate"
	"github.com/presenced/presenced/internal/sip/watcher"
)

// publishUntilSeen publishes notes for entity until one reaches rec, so
// that a subscription being re-established is allowed its time.
func publishUntilSeen(t *testing.T, w *watcher.Watcher, rec *recorder, entity, prefix string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		note := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := w.Publish(ctx, gw, entity, pidf(entity, "open", note), "", time.Minute); err != nil {
			t.Logf("publish %s: %v", note, err)
		}
		wait := time.After(time.Second)
	drain:
		for {
			select {
			case n := <-rec.notes:
				if strings.Contains(n, prefix+"-") {
					return
				}
			case <-wait:
				break drain
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s change seen", prefix)
		}
	}
}

// newWatcher starts a Watcher closed when the test ends.
func newWatcher(t *testing.T, cfg watcher.Config) *watcher.Watcher {
	t.Helper()
	w, err := watcher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// awaitLoss waits until rec has seen more than n losses.
func awaitLoss(t *testing.T, rec *recorder, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for rec.losses() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("no loss reported (%s)", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatcherTLS subscribes over TLS to a Kamailio that requires a client
// certificate from its CA, then drops the connection under the watcher
// (ss -K destroys the socket, as a network failure would): the
// subscription must be reported lost and carried on over a new
// connection.
func TestWatcherTLS(t *testing.T) {
	t.Parallel()
	pki := kamailiotest.NewPKI(t)
	k := kamailiotest.Start(t, kamailiotest.Options{
		TLS: true, TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey, TLSCAFile: pki.CAFile,
		TLSVerifyClient: true, TLSRequireClient: true,
	})
	target := locate.Static{Addr: k.TLSAddr(), Transport: locate.TLS}
	ctx := context.Background()

	t.Run("no client certificate", func(t *testing.T) {
		rec := newRecorder()
		cfg := rec.config("")
		cfg.Servers, cfg.TLS = target, &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}
		w := newWatcher(t, cfg)
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := w.Subscribe(sctx, gw, bob); err == nil {
			t.Fatal("Subscribe without a client certificate succeeded")
		}
	})

	t.Run("client certificate and dropped connection", func(t *testing.T) {
		rec := newRecorder()
		cfg := rec.config("")
		cfg.Servers = target
		cfg.TLS = &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.Client}, MinVersion: tls.VersionTLS12}
		cfg.KeepAlive = 500 * time.Millisecond
		w := newWatcher(t, cfg)
		if _, err := w.Publish(ctx, gw, bob, pidf(bob, "open", "over-tls"), "", time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := w.Subscribe(ctx, gw, bob); err != nil {
			t.Fatalf("subscribe over TLS: %v\n%s", err, k.LogTail(20))
		}
		rec.await(t, "initial state over TLS", "over-tls")

		port := k.TLSAddr()[strings.LastIndex(k.TLSAddr(), ":")+1:]
		out, err := exec.Command("ss", "-K", "dst", "127.0.0.1", "dport", "=", ":"+port).CombinedOutput()
		if err != nil {
			t.Fatalf("ss -K (iproute2): %v: %s", err, out)
		}
		awaitLoss(t, rec, 0, "after the connection was dropped")
		publishUntilSeen(t, w, rec, bob, "after-drop")
	})
}

// TestWatcherDigest runs against a Kamailio that challenges every
// SUBSCRIBE and PUBLISH: with the endpoint's credentials subscriptions
// are made and refreshed; with a wrong password or none they are refused.
func TestWatcherDigest(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Options{Auth: map[string]string{"presence_gw": "s3cret-pw"}})
	ctx := context.Background()
	creds := func(password string) func(string) (string, string, bool) {
		return func(from string) (string, string, bool) {
			if from != gw {
				return "", "", false
			}
			return "presence_gw", password, true
		}
	}
	for _, tt := range []struct {
		name  string
		creds func(string) (string, string, bool)
	}{
		{"no credentials", nil},
		{"wrong password", creds("wrong")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			cfg := rec.config(k.Addr())
			cfg.Credentials = tt.creds
			w := newWatcher(t, cfg)
			err := w.Subscribe(ctx, gw, bob)
			var se *watcher.StatusError
			if !errors.As(err, &se) || se.Code != 401 && se.Code != 407 {
				t.Fatalf("Subscribe = %v, want a 401 or 407 StatusError", err)
			}
		})
	}
	t.Run("credentials", func(t *testing.T) {
		rec := newRecorder()
		cfg := rec.config(k.Addr())
		cfg.Credentials = creds("s3cret-pw")
		cfg.Expires = 3 * time.Second
		w := newWatcher(t, cfg)
		if _, err := w.Publish(ctx, gw, bob, pidf(bob, "open", "authenticated"), "", time.Minute); err != nil {
			t.Fatalf("%v\n%s", err, k.LogTail(20))
		}
		if err := w.Subscribe(ctx, gw, bob); err != nil {
			t.Fatalf("subscribe: %v\n%s", err, k.LogTail(20))
		}
		rec.await(t, "initial state", "authenticated")
		time.Sleep(3 * cfg.Expires) // several refreshes, each authenticated
		if _, err := w.Publish(ctx, gw, bob, pidf(bob, "closed", "after-refreshes"), "", time.Minute); err != nil {
			t.Fatal(err)
		}
		rec.await(t, "after refreshes", "after-refreshes")
		if n := rec.losses(); n != 0 {
			t.Errorf("%d losses over authenticated refreshes, want 0\n%s", n, k.LogTail(30))
		}
	})
}

// TestWatcherDirector subscribes through a Kamailio acting as a Director
// that redirects every presentity to a second one, the home pool: the
// redirect is followed, remembered (the Director is asked once per
// presentity), and a restart of the home pool is recovered at the home.
func TestWatcherDirector(t *testing.T) {
	t.Parallel()
	home := kamailiotest.Start(t, kamailiotest.Options{})
	director := kamailiotest.Start(t, kamailiotest.Options{RedirectTo: home.Addr()})
	rec := newRecorder()
	cfg := rec.config(director.Addr())
	cfg.Expires = 3 * time.Second
	w := newWatcher(t, cfg)
	ctx := context.Background()
	const carol = "sip:carol@example.com"
	if _, err := w.Publish(ctx, gw, carol, pidf(carol, "open", "at-home"), "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := w.Subscribe(ctx, gw, bob); err != nil {
		t.Fatalf("subscribe via the Director: %v\n%s", err, director.LogTail(20))
	}
	if err := w.Subscribe(ctx, gw, carol); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "carol's state from the home pool", "at-home")
	redirects := func(what string) int {
		return strings.Count(director.LogTail(-1), "director: redirect "+what)
	}
	if got := redirects("SUBSCRIBE sip:bob@"); got != 1 {
		t.Errorf("Director redirected %d SUBSCRIBEs for bob, want 1", got)
	}
	// carol was published first: her home was known before subscribing.
	if got := redirects("SUBSCRIBE sip:carol@"); got != 0 {
		t.Errorf("Director redirected %d SUBSCRIBEs for carol, want 0 (home remembered from the PUBLISH)", got)
	}

	home.Restart(t)
	awaitLoss(t, rec, 0, "after the home pool restarted")
	publishUntilSeen(t, w, rec, carol, "after-home-restart")
	if got := redirects("SUBSCRIBE sip:carol@"); got != 0 {
		t.Errorf("Director redirected %d SUBSCRIBEs for carol after the home restart, want 0", got)
	}
}

// testBusy holds a subscription while the server answers 503 to
// everything for several refresh cycles: the subscription is reported
// lost, retried (after Retry-After), and carries changes once the server
// serves again.
func testBusy(t *testing.T, k *kamailiotest.Server) {
	const dave = "sip:dave@example.com"
	rec := newRecorder()
	cfg := rec.config(k.Addr())
	cfg.Expires = 3 * time.Second
	w := newWatcher(t, cfg)
	ctx := context.Background()
	if _, err := w.Publish(ctx, gw, dave, pidf(dave, "open", "before-busy"), "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := w.Subscribe(ctx, gw, dave); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "initial state", "before-busy")
	k.SetBusy(t, true)
	awaitLoss(t, rec, 0, "while the server answers 503")
	_, err := w.Publish(ctx, gw, dave, pidf(dave, "open", "refused"), "", time.Minute)
	var se *watcher.StatusError
	if !errors.As(err, &se) || se.Code != 503 || se.RetryAfter != time.Second {
		t.Errorf("Publish while busy = %v, want a 503 with Retry-After 1 s", err)
	}
	time.Sleep(2 * cfg.Expires)
	k.SetBusy(t, false)
	publishUntilSeen(t, w, rec, dave, "after-busy")
}

// TestWatcherPending subscribes where the presentity must authorise its
// watchers and has not: the NOTIFY says pending, which is reported as
// such (not as a presence), and the subscription is kept.
func TestWatcherPending(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Options{Authorize: true})
	rec := newRecorder()
	cfg := rec.config(k.Addr())
	pending := make(chan string, 4)
	cfg.Pending = func(from, to string) { pending <- from + " " + to }
	w := newWatcher(t, cfg)
	if err := w.Subscribe(context.Background(), gw, bob); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-pending:
		if want := gw + " " + bob; got != want {
			t.Errorf("pending reported for %q, want %q", got, want)
		}
	case n := <-rec.notes:
		t.Fatalf("a pending subscription was reported as a presence: %s", n)
	case <-time.After(15 * time.Second):
		t.Fatalf("no pending NOTIFY reported\n%s", k.LogTail(20))
	}
	if got := w.Subscriptions(); got != 1 {
		t.Errorf("%d subscriptions held, want 1", got)
	}
}
