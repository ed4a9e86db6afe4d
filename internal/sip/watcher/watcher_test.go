package watcher_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/sip/kamailiotest"
	"github.com/presenced/presenced/internal/sip/watcher"
)

const (
	gw  = "sip:presence_gw@example.com"
	bob = "sip:bob@example.com"
)

func pidf(entity, basic, note string) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="%s">
 <tuple id="t1"><status><basic>%s</basic></status><note>%s</note></tuple>
</presence>`, entity, basic, note)
}

// recorder collects what a Watcher reports.
type recorder struct {
	notes chan string // NOTIFY bodies
	mu    sync.Mutex
	lost  int
}

func newRecorder() *recorder { return &recorder{notes: make(chan string, 64)} }

func (r *recorder) config(server string) watcher.Config {
	return watcher.Config{
		Server: server,
		Notify: func(from, to string, body []byte) { r.notes <- from + " " + to + " " + string(body) },
		Lost: func(string, string) {
			r.mu.Lock()
			r.lost++
			r.mu.Unlock()
		},
		RetryBase: 100 * time.Millisecond, RetryMax: time.Second,
	}
}

func (r *recorder) losses() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

// await waits for a NOTIFY body holding every one of want, skipping
// others (e.g. the state before a change).
func (r *recorder) await(t *testing.T, what string, want ...string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case n := <-r.notes:
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(n, w)
			}
			if ok {
				return
			}
			t.Logf("skipped NOTIFY: %s", n)
		case <-deadline:
			t.Fatalf("no NOTIFY with %q (%s)", want, what)
		}
	}
}

// TestWatcher runs the watcher against one real Kamailio for the
// package; the subtests run in order, the restart last.
func TestWatcher(t *testing.T) {
	t.Parallel()
	k := kamailiotest.Start(t, kamailiotest.Options{})
	t.Run("publish subscribe unsubscribe", func(t *testing.T) { testSubscribePublishUnsubscribe(t, k) })
	t.Run("refused", func(t *testing.T) { testRefusedSubscribe(t, k) })
	t.Run("server busy", func(t *testing.T) { testBusy(t, k) })
	t.Run("refresh and restart", func(t *testing.T) { testRefreshAndRestart(t, k) })
}

func testSubscribePublishUnsubscribe(t *testing.T, k *kamailiotest.Server) {
	rec := newRecorder()
	w, err := watcher.New(rec.config(k.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()

	pub, err := w.Publish(ctx, bob, bob, pidf(bob, "open", "first"), "", time.Minute)
	if err != nil || pub.ETag == "" {
		t.Fatalf("publish: %+v, %v", pub, err)
	}
	if err := w.Subscribe(ctx, gw, bob); err != nil {
		t.Fatal(err)
	}
	if err := w.Subscribe(ctx, gw, bob); err != nil { // a no-op
		t.Fatal(err)
	}
	rec.await(t, "initial state", gw, bob, "<basic>open</basic>", "first")
	if got := w.Subscriptions(); got != 1 {
		t.Errorf("%d subscriptions, want 1", got)
	}
	pub, err = w.Publish(ctx, bob, bob, pidf(bob, "closed", "second"), pub.ETag, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rec.await(t, "after the change", "<basic>closed</basic>", "second")
	// An entity tag the server does not know is published afresh: a
	// second publication, which Kamailio aggregates with the first (a
	// tuple id of its own, since the older publication's tuple wins).
	fresh, err := w.Publish(ctx, bob, bob, []byte(strings.Replace(string(pidf(bob, "open", "third")), `id="t1"`, `id="t2"`, 1)), "no-such-etag", time.Minute)
	if err != nil || fresh.ETag == "" || fresh.ETag == pub.ETag {
		t.Fatalf("publish with a stale tag: %+v, %v", fresh, err)
	}
	rec.await(t, "after the fresh publication", "third")

	// A one-shot fetch reads the state without keeping a subscription.
	body, err := w.Fetch(ctx, gw, bob)
	if err != nil || !strings.Contains(string(body), "third") {
		t.Errorf("Fetch(bob) = %q, %v; want the document holding \"third\"", body, err)
	}
	if got := w.Subscriptions(); got != 1 {
		t.Errorf("%d subscriptions after a fetch, want still 1", got)
	}
	var se *watcher.StatusError
	if _, err := w.Fetch(ctx, gw, "sip:carol@elsewhere.org"); !errors.As(err, &se) || se.Code != 404 {
		t.Errorf("Fetch of a foreign domain: %v, want a 404 StatusError", err)
	}

	if err := w.Unsubscribe(ctx, gw, bob); err != nil {
		t.Fatal(err)
	}
	if got := w.Subscriptions(); got != 0 {
		t.Errorf("%d subscriptions after Unsubscribe, want 0", got)
	}
	if err := w.Unsubscribe(ctx, gw, bob); err != nil { // a no-op
		t.Fatal(err)
	}
	if n := rec.losses(); n != 0 {
		t.Errorf("%d losses reported, want 0", n)
	}
}

func testRefusedSubscribe(t *testing.T, k *kamailiotest.Server) {
	w, err := watcher.New(newRecorder().config(k.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The test Kamailio serves example.com only: 404.
	err = w.Subscribe(context.Background(), gw, "sip:carol@elsewhere.org")
	var se *watcher.StatusError
	if !errors.As(err, &se) || se.Code != 404 || !errors.Is(err, watcher.ErrRefused) {
		t.Fatalf("subscribe to a foreign domain: %v, want a 404 StatusError", err)
	}
	if got := w.Subscriptions(); got != 0 {
		t.Errorf("%d subscriptions kept after a refusal", got)
	}
}

// testRefreshAndRestart holds a subscription with a short Expires over
// several refresh cycles, then restarts Kamailio (which forgets every
// dialog): the watcher must notice, subscribe again and see changes.
func testRefreshAndRestart(t *testing.T, k *kamailiotest.Server) {
	const bob = "sip:bob2@example.com" // not the first subtest's presentity
	rec := newRecorder()
	cfg := rec.config(k.Addr())
	cfg.Expires = 4 * time.Second // refreshed 1 s before expiry
	w, err := watcher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	if _, err := w.Publish(ctx, bob, bob, pidf(bob, "open", "before"), "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := w.Subscribe(ctx, gw, bob); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "initial state", "before")
	// Three subscription lifetimes: without refreshes Kamailio would have
	// dropped the subscription and the change below would not arrive.
	time.Sleep(3 * cfg.Expires)
	if _, err := w.Publish(ctx, bob, bob, pidf(bob, "closed", "after-refreshes"), "", time.Minute); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "after several refreshes", "after-refreshes")
	if n := rec.losses(); n != 0 {
		t.Errorf("%d losses during plain refreshes, want 0", n)
	}

	k.Restart(t)
	// The next refresh fails (481 or a broken connection); the watcher
	// reports the loss and subscribes again. Publish until the change
	// reaches it over the new subscription.
	deadline := time.Now().Add(30 * time.Second)
	for rec.losses() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the restart was never noticed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; ; i++ {
		note := fmt.Sprintf("after-restart-%d", i)
		if _, err := w.Publish(ctx, bob, bob, pidf(bob, "open", note), "", time.Minute); err != nil {
			t.Logf("publish after restart: %v", err)
		}
		select {
		case n := <-rec.notes:
			if strings.Contains(n, "after-restart-") {
				return
			}
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no change seen after the restart; log:\n%s", k.LogTail(30))
		}
	}
}
