// Package backendtest is the conformance suite of the backend contract
// (package backend). Every connector runs it from its own tests, with a
// Harness that knows how to make its IM server report a presence:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backendtest.Harness { ... })
//	}
//
// The suite knows nothing of any connector. It drives the Backend only
// through the contract and the optional abilities (Publisher, Fetcher,
// HealthChecker) it finds by type assertion, and it observes the Backend
// only through a Recorder passed to Run as its Sink.
package backendtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/status"
)

// DefaultTimeout is the Harness Timeout used when it is zero.
const DefaultTimeout = 10 * time.Second

// Contacts is the number of test contacts the suite uses: it calls
// Harness.Contact with 0 <= i < Contacts.
const Contacts = 4

// Activity is the activity token the suite publishes. Connectors map it to
// and from their protocol's vocabulary (RPID "meeting", for instance).
const Activity = "InAMeeting"

// Harness is one connector under test, fresh for each subtest.
//
// The suite sets only the availabilities Available, Busy, Away and
// DoNotDisturb, with or without a note and the Activity token, so that
// every IM server can represent them; it never sets Offline or Unknown.
// Test contacts may keep presence from earlier subtests (a real server
// does): each subtest sets what it relies on first.
type Harness struct {
	// Backend is the connector, not yet running: the suite calls its Run
	// and stops it at the end of the subtest.
	Backend backend.Backend
	// Endpoints are the application endpoints to watch through; at least
	// 2.
	Endpoints []backend.Endpoint
	// SetPresence makes the IM server report p for contact (native:
	// Publish; a SIP harness PUBLISHes to Kamailio; an XMPP harness logs a
	// test user in). It returns once the server accepted it.
	SetPresence func(ctx context.Context, contact string, p status.Presence) error
	// Contact returns the address of the i-th test contact (an email the
	// harness can SetPresence for).
	Contact func(i int) string
	// Timeout bounds each wait for an update and each call into the
	// Backend or the harness (real servers need seconds; native needs
	// little). Zero means DefaultTimeout.
	Timeout time.Duration
	// Represent returns what the server reports for a presence the
	// suite set, for protocols that cannot carry all of it (XMPP has no
	// Busy and no activities); nil means the presence itself.
	Represent func(status.Presence) status.Presence
	// PreservesSince reports whether the server reports the Since that
	// SetPresence was given. When it does, the suite sets Since and
	// compares it; otherwise it sets none and ignores Since in reports.
	PreservesSince bool
}

// Run runs the conformance suite, one subtest per behaviour, each with a
// new Harness from newHarness (which may register cleanups on the subtest's
// t; they run after the suite has stopped the Backend).
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*session)
	}{
		{"WatchReportsCurrentPresence", testWatchReportsCurrent},
		{"ChangesAfterWatch", testChangesAfterWatch},
		{"WatchTwiceIsNoOp", testWatchTwice},
		{"SeveralContactsAndEndpoints", testSeveral},
		{"ContactOnTwoEndpoints", testTwoEndpoints},
		{"UnwatchStopsUpdates", testUnwatchStops},
		{"UnwatchNotWatched", testUnwatchNotWatched},
		{"RunReturnsNilAfterCancel", testRunReturnsNil},
		{"Publisher", testPublisher},
		{"Fetcher", testFetcher},
		{"HealthChecker", testHealthChecker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(start(t, newHarness(t)))
		})
	}
}

// testWatchReportsCurrent: a Watch reports the presence set before it.
func testWatchReportsCurrent(s *session) {
	x := s.h.Contact(0)
	want := s.presence(status.Busy, "in the lab", Activity)
	s.set(x, want)
	s.watch(0, x)
	s.expect(0, x, want)
}

// testChangesAfterWatch: every later change is reported in full, and a
// note or activity that is dropped is reported as dropped.
func testChangesAfterWatch(s *session) {
	x := s.h.Contact(0)
	s.set(x, s.presence(status.Available, "", ""))
	s.watch(0, x)
	_, mark := s.waitFor(0, x, status.Available)
	for _, want := range []status.Presence{
		s.presence(status.DoNotDisturb, "back at 3", Activity),
		s.presence(status.Away, "lunch", ""),
		s.presence(status.Busy, "", ""),
	} {
		s.set(x, want)
		mark = s.expect(mark, x, want)
	}
}

// testWatchTwice: a second Watch through the same endpoint succeeds and
// changes nothing: the watch still works, and one Unwatch ends it.
func testWatchTwice(s *session) {
	x, y := s.h.Contact(0), s.h.Contact(1)
	s.set(x, s.presence(status.Busy, "", ""))
	s.set(y, s.presence(status.Busy, "", ""))
	s.watch(0, x)
	s.watch(1, y)
	_, mark := s.waitFor(0, x, status.Busy)
	s.waitFor(0, y, status.Busy)

	ctx, cancel := s.callContext()
	defer cancel()
	if err := s.h.Backend.Watch(ctx, s.h.Endpoints[0], x); err != nil {
		s.t.Fatalf("second Watch(%v, %s) = %v, want nil (a no-op)", s.h.Endpoints[0], x, err)
	}
	want := s.presence(status.Away, "still here", "")
	s.set(x, want)
	s.expect(mark, x, want)

	s.unwatch(0, x)
	s.expectSilent(x, y, status.Available)
}

// testSeveral: contacts spread over every endpoint are each reported
// their own presence, initially and on change.
func testSeveral(s *session) {
	before := []status.Availability{status.Available, status.Busy, status.Away, status.DoNotDisturb}
	after := []status.Availability{status.Busy, status.Away, status.DoNotDisturb, status.Available}
	for i := range Contacts {
		s.set(s.h.Contact(i), s.presence(before[i], fmt.Sprintf("before %d", i), ""))
	}
	for i := range Contacts {
		s.watch(i%len(s.h.Endpoints), s.h.Contact(i))
	}
	mark := 0
	for i := range Contacts {
		_, m := s.waitFor(0, s.h.Contact(i), before[i])
		mark = max(mark, m)
	}
	want := make([]status.Presence, Contacts)
	for i := range Contacts {
		want[i] = s.presence(after[i], fmt.Sprintf("after %d", i), Activity)
		s.set(s.h.Contact(i), want[i])
	}
	for i := range Contacts {
		s.expect(mark, s.h.Contact(i), want[i])
	}
}

// testTwoEndpoints: a contact watched through two endpoints stays watched
// until it is unwatched through both.
func testTwoEndpoints(s *session) {
	x, y := s.h.Contact(0), s.h.Contact(1)
	s.set(x, s.presence(status.Busy, "", ""))
	s.set(y, s.presence(status.Busy, "", ""))
	s.watch(0, x)
	s.watch(1, x)
	s.watch(0, y)
	_, mark := s.waitFor(0, x, status.Busy)
	s.waitFor(0, y, status.Busy)

	s.unwatch(0, x)
	want := s.presence(status.Away, "", "")
	s.set(x, want)
	s.expect(mark, x, want)

	s.unwatch(1, x)
	s.expectSilent(x, y, status.Available)
}

// testUnwatchStops: after Unwatch, changes of the contact are not
// reported, while other watches go on.
func testUnwatchStops(s *session) {
	x, y := s.h.Contact(0), s.h.Contact(1)
	s.set(x, s.presence(status.Busy, "", ""))
	s.set(y, s.presence(status.Busy, "", ""))
	s.watch(0, x)
	s.watch(1, y)
	s.waitFor(0, x, status.Busy)
	s.waitFor(0, y, status.Busy)

	s.unwatch(0, x)
	s.expectSilent(x, y, status.Away)
}

// testUnwatchNotWatched: unwatching what is not watched is no error, and
// unwatching through another endpoint leaves the watch alone.
func testUnwatchNotWatched(s *session) {
	x, never := s.h.Contact(0), s.h.Contact(3)
	ctx, cancel := s.callContext()
	defer cancel()
	for _, ep := range s.h.Endpoints {
		if err := s.h.Backend.Unwatch(ctx, ep, never); err != nil {
			s.t.Errorf("Unwatch(%v, %s) of a contact never watched = %v, want nil", ep, never, err)
		}
	}
	s.set(x, s.presence(status.Busy, "", ""))
	s.watch(0, x)
	_, mark := s.waitFor(0, x, status.Busy)
	if err := s.h.Backend.Unwatch(ctx, s.h.Endpoints[1], x); err != nil {
		s.t.Errorf("Unwatch(%v, %s) through an endpoint not watching it = %v, want nil", s.h.Endpoints[1], x, err)
	}
	want := s.presence(status.Away, "", "")
	s.set(x, want)
	s.expect(mark, x, want)
}

// testRunReturnsNil: cancelling Run's context with watches in place makes
// it return nil.
func testRunReturnsNil(s *session) {
	x := s.h.Contact(0)
	s.set(x, s.presence(status.Busy, "", ""))
	s.watch(0, x)
	s.watch(1, x)
	s.waitFor(0, x, status.Busy)
	if err := s.stop(); err != nil {
		s.t.Fatalf("Run after cancellation = %v, want nil", err)
	}
}

// testPublisher: what a Publisher publishes reaches a watch of the user.
func testPublisher(s *session) {
	pub, ok := s.h.Backend.(backend.Publisher)
	if !ok {
		s.t.Skip("backend is not a Publisher")
	}
	x := s.h.Contact(0)
	s.set(x, s.presence(status.Busy, "", ""))
	s.watch(0, x)
	_, mark := s.waitFor(0, x, status.Busy)

	want := s.presence(status.DoNotDisturb, "published", Activity)
	ctx, cancel := s.callContext()
	defer cancel()
	err := pub.Publish(ctx, x, want)
	if errors.Is(err, backend.ErrUnsupported) {
		s.t.Skipf("Publish: %v", err)
	}
	if err != nil {
		s.t.Fatalf("Publish(%s, %+v): %v", x, want, err)
	}
	s.expect(mark, x, want)
	if f, ok := s.h.Backend.(backend.Fetcher); ok {
		s.expectFetch(f, x, want)
	}
}

// testFetcher: Fetch returns the presence set, without a watch.
func testFetcher(s *session) {
	f, ok := s.h.Backend.(backend.Fetcher)
	if !ok {
		s.t.Skip("backend is not a Fetcher")
	}
	x := s.h.Contact(0)
	for _, want := range []status.Presence{
		s.presence(status.Away, "fetched", Activity),
		s.presence(status.Busy, "", ""),
	} {
		s.set(x, want)
		s.expectFetch(f, x, want)
	}
}

// testHealthChecker: a running backend is healthy.
func testHealthChecker(s *session) {
	hc, ok := s.h.Backend.(backend.HealthChecker)
	if !ok {
		s.t.Skip("backend is not a HealthChecker")
	}
	// Be sure Run has started serving before asking.
	x := s.h.Contact(0)
	s.set(x, s.presence(status.Busy, "", ""))
	s.watch(0, x)
	ctx, cancel := s.callContext()
	defer cancel()
	if err := hc.Healthy(ctx); err != nil {
		s.t.Errorf("Healthy while running = %v, want nil", err)
	}
}

// session is one running Backend under test.
type session struct {
	t   *testing.T
	h   Harness
	rec *Recorder
	// alive is cancelled, with a cause, when Run returns or the subtest
	// ends; every wait derives from it, so an early Run error ends waits
	// at once with that error.
	alive context.Context
	stop  func() error // cancels Run and returns its result; idempotent
	// serving is set once a Watch succeeded: before that, Watch errors
	// are taken as Run still starting.
	serving bool
	since   time.Time // the last Since handed out when PreservesSince
}

// start validates h and runs its Backend until the end of the subtest.
func start(t *testing.T, h Harness) *session {
	t.Helper()
	switch {
	case h.Backend == nil:
		t.Fatal("harness has no Backend")
	case len(h.Endpoints) < 2:
		t.Fatalf("harness has %d endpoints, want at least 2", len(h.Endpoints))
	case h.SetPresence == nil || h.Contact == nil:
		t.Fatal("harness lacks SetPresence or Contact")
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultTimeout
	}
	s := &session{
		t:     t,
		h:     h,
		rec:   NewRecorder(),
		since: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
	}
	alive, kill := context.WithCancelCause(context.Background())
	s.alive = alive
	runCtx, cancelRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := h.Backend.Run(runCtx, s.rec)
		kill(fmt.Errorf("Backend.Run returned: %v", err))
		done <- err
	}()
	var once sync.Once
	var runErr error
	s.stop = func() error {
		once.Do(func() {
			cancelRun()
			select {
			case runErr = <-done:
			case <-time.After(h.Timeout):
				runErr = fmt.Errorf("Backend.Run did not return within %v of cancellation", h.Timeout)
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stopping the backend: %v", err)
		}
	})
	return s
}

// callContext bounds one call into the Backend or the harness.
func (s *session) callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.alive, s.h.Timeout)
}

// presence returns a presence to set. With PreservesSince each gets a
// distinct Since.
func (s *session) presence(a status.Availability, note, activity string) status.Presence {
	p := status.Presence{Availability: a, Note: note, Activity: activity}
	if s.h.PreservesSince {
		s.since = s.since.Add(time.Minute)
		p.Since = s.since
	}
	return p
}

// set makes the server report p for contact.
func (s *session) set(contact string, p status.Presence) {
	s.t.Helper()
	ctx, cancel := s.callContext()
	defer cancel()
	if err := s.h.SetPresence(ctx, contact, p); err != nil {
		s.t.Fatalf("SetPresence(%s, %+v): %v", contact, p, err)
	}
}

// watch watches contact through the i-th endpoint. Until the first Watch
// of the session succeeds, errors are retried until the timeout: Run
// gives no readiness signal, and the core too retries a failed Watch.
func (s *session) watch(i int, contact string) {
	s.t.Helper()
	ep := s.h.Endpoints[i]
	ctx, cancel := s.callContext()
	defer cancel()
	for {
		err := s.h.Backend.Watch(ctx, ep, contact)
		if err == nil {
			s.serving = true
			return
		}
		if s.serving || ctx.Err() != nil {
			s.t.Fatalf("Watch(%v, %s): %v", ep, contact, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// unwatch unwatches contact through the i-th endpoint.
func (s *session) unwatch(i int, contact string) {
	s.t.Helper()
	ep := s.h.Endpoints[i]
	ctx, cancel := s.callContext()
	defer cancel()
	if err := s.h.Backend.Unwatch(ctx, ep, contact); err != nil {
		s.t.Fatalf("Unwatch(%v, %s): %v", ep, contact, err)
	}
}

// waitFor waits for an update of contact with availability a at mark from
// or later, and returns it with the mark after it.
func (s *session) waitFor(from int, contact string, a status.Availability) (status.Presence, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.alive, s.h.Timeout)
	defer cancel()
	a = s.represent(status.Presence{Availability: a}).Availability
	u, mark, err := s.rec.Wait(ctx, from, func(u Update) bool {
		return u.Contact == contact && u.Presence.Availability == a
	})
	if err != nil {
		s.t.Fatalf("waiting for %s to be reported %v: %v; updates since mark %d: %+v", contact, a, err, from, s.rec.From(from))
	}
	return u.Presence, mark + 1
}

// expect waits for contact to be reported with want's availability at
// mark from or later, checks the whole report, and returns the mark after
// it.
func (s *session) expect(from int, contact string, want status.Presence) int {
	s.t.Helper()
	got, mark := s.waitFor(from, contact, want.Availability)
	s.compare(fmt.Sprintf("update of %s", contact), want, got)
	return mark
}

// expectFetch fetches contact until it has want's availability, then
// checks the whole value. It polls because a server may apply a change
// after accepting it.
func (s *session) expectFetch(f backend.Fetcher, contact string, want status.Presence) {
	s.t.Helper()
	ctx, cancel := s.callContext()
	defer cancel()
	for {
		got, err := f.Fetch(ctx, contact)
		if err == nil && got.Availability == s.represent(want).Availability {
			s.compare(fmt.Sprintf("Fetch(%s)", contact), want, got)
			return
		}
		if ctx.Err() != nil {
			s.t.Fatalf("Fetch(%s) = %+v, %v; want %v", contact, got, err, want.Availability)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// represent is what the server reports for p (Harness.Represent).
func (s *session) represent(p status.Presence) status.Presence {
	if s.h.Represent == nil {
		return p
	}
	return s.h.Represent(p)
}

// compare reports a difference between a presence set and the presence
// reported, ignoring Since unless the harness preserves it.
func (s *session) compare(what string, want, got status.Presence) {
	s.t.Helper()
	want = s.represent(want)
	if !s.h.PreservesSince {
		// status.Presence has an Equal method, which go-cmp would use
		// in place of any option about its fields: clear Since instead.
		want.Since, got.Since = time.Time{}, time.Time{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		s.t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// expectSilent checks that contact x, no longer watched, is not reported
// when it changes. y must be watched, with an availability other than
// witness.
//
// Ordering assumption: a backend reports the changes it learns in the
// order the server accepted them, at least for changes set one after the
// other by one client. So the suite changes x, then y, and waits for y's
// report: had x's change been reported at all, it would have been by then,
// and the suite never waits for an absence.
func (s *session) expectSilent(x, y string, witness status.Availability) {
	s.t.Helper()
	mark := s.rec.Len()
	s.set(x, s.presence(status.DoNotDisturb, "unwatched", ""))
	s.set(y, s.presence(witness, "", ""))
	_, end := s.waitFor(mark, y, witness)
	for _, u := range s.rec.From(mark)[:end-mark] {
		if u.Contact == x {
			s.t.Errorf("%s was reported after its Unwatch: %+v", x, u.Presence)
		}
	}
}
