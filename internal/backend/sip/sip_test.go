package sip_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/backend/backendtest"
	"github.com/presenced/presenced/internal/backend/sip"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/pidf"
	"github.com/presenced/presenced/internal/sip/kamailiotest"
	"github.com/presenced/presenced/internal/sip/watcher"
	"github.com/presenced/presenced/internal/status"
)

// presentities publishes test contacts' presence to Kamailio as their own
// SIP clients would, one publication per contact for the whole package.
type presentities struct {
	w     *watcher.Watcher
	mu    sync.Mutex
	etags map[string]string
}

func (ps *presentities) set(ctx context.Context, contact string, p status.Presence) error {
	body, err := pidf.Build(sip.Address(contact), p, "client", clock.Real{}.Now())
	if err != nil {
		return err
	}
	ps.mu.Lock()
	etag := ps.etags[contact]
	ps.mu.Unlock()
	pub, err := ps.w.Publish(ctx, sip.Address(contact), sip.Address(contact), body, etag, 10*time.Minute)
	if err != nil {
		return err
	}
	ps.mu.Lock()
	ps.etags[contact] = pub.ETag
	ps.mu.Unlock()
	return nil
}

// TestConformance runs the backend contract's suite against one real
// Kamailio: watches are SUBSCRIBE dialogs, SetPresence PUBLISHes.
func TestConformance(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Options{})
	pw, err := watcher.New(watcher.Config{Server: k.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close() })
	ps := &presentities{w: pw, etags: map[string]string{}}
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		b, err := sip.New(sip.Config{Server: k.Addr(), Expires: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return backendtest.Harness{
			Backend: b,
			Endpoints: []backend.Endpoint{
				{Index: 0, ID: "sip:presence_test@example.com"},
				{Index: 1, ID: "sip:presence_test-01@example.com"},
			},
			SetPresence: ps.set,
			Contact:     func(i int) string { return fmt.Sprintf("contact%d@example.com", i) },
		}
	})
}

// TestUnhealthyWithoutServer: with nothing listening at the server's
// address the backend is not healthy, and says why.
func TestUnhealthyWithoutServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	reg := prometheus.NewRegistry()
	b, err := sip.New(sip.Config{Server: addr, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, nopSink{}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer hcancel()
	var herr error
	for { // Run may not have started yet
		if herr = b.Healthy(hctx); herr == nil || !strings.Contains(herr.Error(), "not running") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if herr == nil || !strings.Contains(herr.Error(), addr) {
		t.Errorf("Healthy with no server = %v, want an error naming %s", herr, addr)
	}
	// A watch cannot start either, and the failure is counted.
	if err := b.Watch(hctx, backend.Endpoint{ID: "sip:presence_test@example.com"}, "bob@example.com"); err == nil {
		t.Error("Watch with no server succeeded")
	}
	want := `
# HELP presenced_sip_subscribe_failures_total SUBSCRIBEs of new watches that failed, by SIP status (or transport).
# TYPE presenced_sip_subscribe_failures_total counter
presenced_sip_subscribe_failures_total{status="transport"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "presenced_sip_subscribe_failures_total"); err != nil {
		t.Error(err)
	}
}

type nopSink struct{}

func (nopSink) Update(string, status.Presence) {}

// chanSink passes every update on.
type chanSink chan status.Presence

func (c chanSink) Update(_ string, p status.Presence) { c <- p }

// TestPendingContact: where the presence server waits for the
// presentity's authorisation, the contact is Unknown with reason pending.
func TestPendingContact(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Options{Authorize: true})
	b, err := sip.New(sip.Config{Server: k.Addr(), Expires: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sink := make(chanSink, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, sink) }()
	defer func() {
		cancel()
		<-done
	}()
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	for { // Run may not have started yet
		err := b.Watch(wctx, backend.Endpoint{ID: "sip:presence_test@example.com"}, "bob@example.com")
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case p := <-sink:
		if want := status.UnknownBecause(status.Pending); p != want {
			t.Errorf("pending contact reported as %+v, want %+v", p, want)
		}
	case <-wctx.Done():
		t.Fatal("nothing reported for a pending subscription")
	}
}

// TestPublicationKept: a user's presence published with a short Expires
// is refreshed, so a watcher that subscribes after several lifetimes
// still sees it.
func TestPublicationKept(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Options{})
	b, err := sip.New(sip.Config{Server: k.Addr(), Expires: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, nopSink{}) }()
	defer func() {
		cancel()
		<-done
	}()
	if err := b.Publish(ctx, "alice@example.com", status.Presence{Availability: status.Busy, Note: "kept"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * 2 * time.Second) // four lifetimes of the publication

	notes := make(chan []byte, 4)
	w, err := watcher.New(watcher.Config{Server: k.Addr(), Notify: func(_, _ string, body []byte) { notes <- body }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Subscribe(ctx, "sip:watcher@example.com", "sip:alice@example.com"); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-notes:
		doc, err := pidf.Parse(body)
		if err != nil {
			t.Fatalf("NOTIFY body %q: %v", body, err)
		}
		if got := doc.Presence(); got.Availability != status.Busy || got.Note != "kept" {
			t.Errorf("alice after four publication lifetimes: %+v, want Busy \"kept\"", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no NOTIFY")
	}
}

// recSink records updates by contact.
type recSink struct {
	mu sync.Mutex
	ch chan struct{}
	m  map[string]status.Presence
}

func (r *recSink) Update(c string, p status.Presence) {
	r.mu.Lock()
	r.m[c] = p
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recSink) get(c string) status.Presence {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[c]
}

// TestResolvedAddresses: with a resolver (the directory), a contact is
// subscribed at the address it gives, and contacts it cannot place are
// Unknown with its reason (not_found, not_enabled) or, when it fails,
// Unknown/backend_error with the error returned for a retry.
func TestResolvedAddresses(t *testing.T) {
	k := kamailiotest.Start(t, kamailiotest.Options{})
	pw, err := watcher.New(watcher.Config{Server: k.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	ps := &presentities{w: pw, etags: map[string]string{}}
	ctx := context.Background()
	if err := ps.set(ctx, "robert.b@example.com", status.Presence{Availability: status.Busy, Note: "from the directory's address"}); err != nil {
		t.Fatal(err)
	}
	resolve := func(_ context.Context, c string) (string, status.Reason, error) {
		switch c {
		case "bob@example.com":
			return "robert.b@example.com", status.NoReason, nil // a bare address is made a sip: URI
		case "carol@example.com":
			return "", status.NotFound, nil
		case "dave@example.com":
			return "", status.NotEnabled, nil
		}
		return "", status.NoReason, fmt.Errorf("directory down")
	}
	b, err := sip.New(sip.Config{Server: k.Addr(), Expires: time.Minute, Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	sink := &recSink{ch: make(chan struct{}, 1), m: map[string]status.Presence{}}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(rctx, sink) }()
	defer func() {
		cancel()
		<-done
	}()
	ep := backend.Endpoint{ID: "sip:presence_test@example.com"}
	for { // Run may not have started yet
		if err := b.Watch(ctx, ep, "carol@example.com"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []string{"bob@example.com", "dave@example.com"} {
		if err := b.Watch(ctx, ep, c); err != nil {
			t.Fatalf("Watch(%s): %v", c, err)
		}
	}
	if err := b.Watch(ctx, ep, "erin@example.com"); err == nil {
		t.Error("Watch with a failing resolver succeeded")
	}
	want := map[string]status.Presence{
		"bob@example.com":   {Availability: status.Busy, Note: "from the directory's address"},
		"carol@example.com": status.UnknownBecause(status.NotFound),
		"dave@example.com":  status.UnknownBecause(status.NotEnabled),
		"erin@example.com":  status.UnknownBecause(status.BackendError),
	}
	deadline := time.After(15 * time.Second)
	for {
		ok := true
		for c, w := range want {
			got := sink.get(c)
			got.Since = time.Time{}
			ok = ok && got == w
		}
		if ok {
			break
		}
		select {
		case <-sink.ch:
		case <-deadline:
			t.Fatalf("updates %v, want %v", sink.m, want)
		}
	}
	// Unwatching the unplaced contacts sends nothing; bob's subscription ends.
	for _, c := range []string{"bob@example.com", "carol@example.com", "dave@example.com"} {
		if err := b.Unwatch(ctx, ep, c); err != nil {
			t.Errorf("Unwatch(%s): %v", c, err)
		}
	}
}
