package loadgen

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// metricSIPNotifies counts the NOTIFYs with presence the server's SIP
// backend received for watched contacts.
const metricSIPNotifies = "presenced_sip_notifies_total"

// notifyWatcherContacts is the most contacts one watcher subscribes when
// --watchers is 0: the default presence.max_contacts_per_request, which
// bounds one subscription.
const notifyWatcherContacts = 1000

// How long notify waits, after the window, for the last answers and for
// the last deliveries (until none arrived for sipDeliveryQuiet).
const (
	sipDrainMax      = 10 * time.Second
	sipDeliveryQuiet = time.Second
)

// dialogStall is how long notify waits for more dialogs when their count
// stopped growing short of the contacts watched.
const dialogStall = 15 * time.Second

// notifyFlags declares the flags of the notify scenario.
func (c *Config) notifyFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Distinct, "contacts", c.Distinct, "distinct contacts watched (contact-N@bench.test): one SIP dialog each")
	c.watcherFlags(fs)
	fs.Float64Var(&c.Rate, "rate", c.Rate, "NOTIFYs per second in total; 0 = as fast as --window allows")
	fs.IntVar(&c.Window, "window", c.Window, "NOTIFYs unanswered at most, pipelined on the connection")
	fs.StringVar(&c.SIPListen, "sip-listen", c.SIPListen, "`address` (host:port) of the tool's SIP server, the server's backend.sip.server; port 0 picks a free one")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "NOTIFYs before the measured window, at most 10m")
}

// watcherFlags declares the flags the notify and xmpp scenarios share:
// the watchers, their preparation, their streams.
func (c *Config) watcherFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Watchers, "watchers", 0, "watchers (watcher-N@bench.test) sharing the contacts; 0 = one per 1000 contacts")
	fs.IntVar(&c.Batch, "batch", c.Batch, "contacts per subscribe or PATCH request while preparing")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "concurrent requests while preparing")
	fs.BoolVar(&c.Streams, "streams", c.Streams, "connect the watchers' WebSocket streams and count the changes delivered")
	fs.BoolVar(&c.Keep, "keep", false, "leave the subscriptions in place at the end")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the contact draw")
}

// spreadNotifyContacts shares the --contacts (Distinct) among the
// watchers: Contacts each, rounded up, so that they cover every one.
func (c *Config) spreadNotifyContacts() {
	if c.Distinct < 1 || c.Watchers < 0 {
		return // validate reports it
	}
	if c.Watchers == 0 {
		c.Watchers = (c.Distinct + notifyWatcherContacts - 1) / notifyWatcherContacts
	}
	c.Contacts = (c.Distinct + c.Watchers - 1) / c.Watchers
}

// validateNotify checks the flags of the notify scenario.
func (c *Config) validateNotify(bad func(flagName, format string, args ...any)) {
	c.validateWatchers(bad)
	if c.Window < 1 || c.Window > maxWindow {
		bad("window", "must be %d..%d, got %d", 1, maxWindow, c.Window)
	}
	if math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > maxRate {
		bad("rate", "must be 0 (as fast as the window allows) to %d, got %v", maxRate, c.Rate)
	}
	if err := checkListenAddr(c.SIPListen); err != nil {
		bad("sip-listen", "%v", err)
	}
}

// validateWatchers checks the flags the scenarios with a server of the
// tool's own (notify, xmpp) share: contacts, watchers, batch.
func (c *Config) validateWatchers(bad func(flagName, format string, args ...any)) {
	intIn := func(flagName string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(flagName, "must be %d..%d, got %d", lo, hi, v)
		}
	}
	intIn("contacts", c.Distinct, 1, maxContacts)
	intIn("watchers", c.Watchers, 1, max(1, min(c.Distinct, maxWatchers)))
	intIn("batch", c.Batch, 1, maxBatch)
}

// checkListenAddr checks that addr is IP:port, port 0..65535.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("host must be an IP address, got %q", host)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port must be 0..65535, got %q", port)
	}
	return nil
}

// runNotify: the tool listens as the SIP presence server, the watchers
// subscribe the contacts (each becomes one SIP dialog from the server),
// their streams connect, and NOTIFYs are sent round-robin over the
// dialogs for --warmup, then for the measured --duration.
func (r *runner) runNotify(ctx context.Context) error {
	run := runID()
	srv, err := listenSIP(r.cfg.SIPListen, run, &r.rec, r.warn)
	if err != nil {
		return err
	}
	defer srv.close()
	r.sip.Store(srv)
	fmt.Fprintf(r.out, "SIP server listening on %s (the server's backend.sip.server)\n", srv.addr())

	s, ss, cleanup, err := r.prepareWatchers(ctx, run, func(sctx context.Context) error {
		return r.waitDialogs(sctx, srv)
	})
	defer cleanup()
	if err != nil {
		return err
	}

	if r.cfg.Warmup > 0 {
		r.setPhase("warming up")
		srv.sendNotifies(ctx, r.cfg.Warmup, r.cfg.Rate, r.cfg.Window)
		srv.drainNotifies(ctx, sipDrainMax)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.sipDialogs, _ = srv.dialogCount()
	r.measureWindow(ctx, &srv.measuring, s, func() {
		srv.sendNotifies(ctx, r.cfg.Duration, r.cfg.Rate, r.cfg.Window)
	})
	r.setPhase("draining")
	srv.drainNotifies(ctx, sipDrainMax)
	if s != nil {
		r.drainQuiet(ctx)
	}
	r.after = r.finalSnapshot(ctx)
	r.checkNotify(srv)
	ss.stop()
	return nil
}

// prepareWatchers prepares the notify and xmpp scenarios under the setup
// context: it mints the --watchers watchers, subscribes each to its
// contacts through the client API, takes the baseline snapshot and the
// watches to expect, runs wait (what the tool's server must see first),
// and connects the watchers' WebSocket streams into ss when --streams
// asks for them. s counts the streams' deliveries, nil without streams.
// cleanup stops the streams and deletes the subscriptions (unless --keep)
// with ctx; it is never nil and is to be deferred whatever the error,
// which is ready to return.
func (r *runner) prepareWatchers(ctx context.Context, run string, wait func(sctx context.Context) error) (s *sink, ss *streams, cleanup func(), err error) {
	sctx, cancel := r.setupContext(ctx)
	defer cancel()
	ss = &streams{}
	watchers, err := r.mint(sctx, watcherPrefix, r.cfg.Watchers)
	if err != nil {
		return nil, ss, ss.stop, setupErr(sctx, err)
	}
	subs := make([]watcherSub, r.cfg.Watchers)
	cleanup = func() {
		ss.stop()
		r.deleteAll(ctx, watchers, subs)
	}
	r.setPhase("subscribing")
	err = forEach(sctx, r.cfg.Watchers, r.cfg.Concurrency, func(ctx context.Context, w int) error {
		return r.subscribeWatcher(ctx, watchers[w], w, &subs[w], false)
	})
	if err != nil {
		return nil, ss, cleanup, setupErr(sctx, fmt.Errorf("preparing subscriptions: %w", err))
	}
	r.before = r.snapshot(ctx)
	r.expectWatches = r.expectedWatches(r.pool.covered(r.cfg.Watchers))
	if err := wait(sctx); err != nil {
		return nil, ss, cleanup, setupErr(sctx, err)
	}
	if r.cfg.Streams {
		s = newSink(&r.rec, run)
		if err := r.connectWatchers(sctx, ss, s, watchers); err != nil {
			return nil, ss, cleanup, setupErr(sctx, fmt.Errorf("connecting streams: %w", err))
		}
	}
	return s, ss, cleanup, nil
}

// connectWatchers connects the watchers' WebSocket streams into ss,
// delivering to s.
func (r *runner) connectWatchers(sctx context.Context, ss *streams, s *sink, watchers []string) error {
	r.setPhase("connecting")
	return forEach(sctx, len(watchers), r.cfg.Concurrency, func(cctx context.Context, w int) error {
		if err := r.connectWebSocket(cctx, ss, watchers[w], s); err != nil {
			return fmt.Errorf("stream of %s: %w", email(watcherPrefix, w), err)
		}
		return nil
	})
}

// measureWindow runs send as the measured window of the notify and xmpp
// scenarios: it takes the baseline snapshot, has the tool's server count
// (measuring) and the sink time deliveries (when s is not nil) while
// send runs.
func (r *runner) measureWindow(ctx context.Context, measuring *atomic.Bool, s *sink, send func()) {
	r.before = r.snapshot(ctx)
	measuring.Store(true)
	r.beginMeasure()
	if s != nil {
		s.open(r.measureStart)
	}
	send()
	measuring.Store(false)
	r.endMeasure()
}

// waitDialogs waits until the SIP server holds a dialog for every watch
// the server should make, each with its first NOTIFY answered. When the
// count stops growing short of that for dialogStall it warns and goes on
// with the dialogs there are; with none it fails.
func (r *runner) waitDialogs(ctx context.Context, srv *sipServer) error {
	want := r.expectWatches
	last, since := -1, time.Now()
	for {
		n, waiting := srv.dialogCount()
		r.setPhase(fmt.Sprintf("dialogs %d/%d", n, want))
		if n >= want && waiting == 0 {
			return nil
		}
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > dialogStall {
			if n == 0 {
				return fmt.Errorf("no SIP dialog after %v: is the server on backend.kind sip with backend.sip.server %s?", dialogStall, srv.addr())
			}
			r.readWaiting(ctx)
			r.warn("the SIP server holds %d dialogs, fewer than the %d contacts watched (waiting for endpoint capacity: %d): raise backend.max_subscriptions_per_endpoint or add backend.endpoints", n, want, r.waiting)
			return nil
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return fmt.Errorf("waiting for %d SIP dialogs (%d so far): %w", want, n, ctx.Err())
		}
	}
}

// drainQuiet waits for the last deliveries: until none arrived for
// sipDeliveryQuiet, at most drainMax.
func (r *runner) drainQuiet(ctx context.Context) {
	deadline := time.Now().Add(drainMax)
	last, quietSince := r.rec.deliveries.Load(), time.Now()
	for time.Since(quietSince) < sipDeliveryQuiet && time.Now().Before(deadline) {
		if !sleep(ctx, 20*time.Millisecond) {
			return
		}
		if n := r.rec.deliveries.Load(); n != last {
			last, quietSince = n, time.Now()
		}
	}
}

// checkNotify warns about what makes the figures doubtful.
func (r *runner) checkNotify(srv *sipServer) {
	c := &srv.counts
	if n := c.other.Load(); n > 0 {
		r.warn("the server refused %d NOTIFYs (see answered_by_status)", n)
	}
	if n := c.unanswered.Load(); n > 0 {
		r.warn("%d NOTIFYs were never answered", n)
	}
	if n := c.initialFailed.Load(); n > 0 {
		r.warn("the server refused or left unanswered %d first NOTIFYs of dialogs", n)
	}
	if n := c.connections.Load(); n > 1 {
		r.warn("the server opened %d SIP connections (one expected): it reconnected, and the dialogs of a lost connection were dropped", n)
	}
	if d := r.measureEnd.Sub(r.measureStart).Seconds(); d > 0 && r.cfg.Rate > 0 {
		if sent := float64(c.sent.Load()) / d; sent < 0.9*r.cfg.Rate {
			r.warn("NOTIFYs reached %.0f/s of --rate %.0f: raise --window, or the server is saturated", sent, r.cfg.Rate)
		}
	}
}

// SIPStats are the notify scenario's SIP figures.
type SIPStats struct {
	// Listen is the SIP server's address.
	Listen string `json:"listen"`
	// Connections are the TCP connections the server opened to it.
	Connections int `json:"connections"`
	// Dialogs were held when the window opened.
	Dialogs int `json:"dialogs"`
	// Window is the most NOTIFYs in flight: --window, at most Dialogs.
	Window int `json:"window"`
	// Requests counts the requests the tool answered, by kind:
	// subscribe (new dialogs), refresh, unsubscribe, fetch, options,
	// refused.
	Requests map[string]uint64 `json:"requests"`
	// Sent are the NOTIFYs of the measured window; each is answered 2xx,
	// otherwise (AnsweredByStatus has every final status), or not at all.
	Sent             uint64            `json:"sent"`
	Answered2xx      uint64            `json:"answered_2xx"`
	AnsweredOther    uint64            `json:"answered_other"`
	Unanswered       uint64            `json:"unanswered"`
	AnsweredByStatus map[string]uint64 `json:"answered_by_status"`
	// AnsweredPerSecond is Answered2xx over the window.
	AnsweredPerSecond float64 `json:"answered_per_second"`
	// Latency is from rendering a NOTIFY to reading its final answer.
	Latency Latency `json:"latency_ms"`
}

// sipSummary builds the SIP figures of a notify run.
func (r *runner) sipSummary(srv *sipServer, seconds float64) *SIPStats {
	c := &srv.counts
	st := &SIPStats{
		Listen: srv.addr(), Connections: int(c.connections.Load()), Dialogs: r.sipDialogs,
		Window: min(r.cfg.Window, max(1, r.sipDialogs)),
		Requests: map[string]uint64{
			"subscribe": c.subscribes.Load(), "refresh": c.refreshes.Load(), "unsubscribe": c.unsubscribe.Load(),
			"fetch": c.fetches.Load(), "options": c.options.Load(), "refused": c.refused.Load(),
		},
		Sent: c.sent.Load(), Answered2xx: c.ok.Load(), AnsweredOther: c.other.Load(), Unanswered: c.unanswered.Load(),
		AnsweredByStatus: map[string]uint64{},
		Latency:          latencyOf(&c.latency),
	}
	st.AnsweredPerSecond = perSecond(st.Answered2xx, seconds)
	c.mu.Lock()
	for code, n := range c.byStatus {
		st.AnsweredByStatus[strconv.Itoa(code)] = n
	}
	c.mu.Unlock()
	return st
}

// text writes the SIP rows of the text summary.
func (st *SIPStats) text(row func(name, format string, args ...any)) {
	row("sip", "listening on %s; %d connection(s), %d dialogs; requests %s", st.Listen, st.Connections, st.Dialogs, counts(nonZero(st.Requests)))
	row("notifies", "%d sent, %d answered 2xx (%.0f/s), %d other, %d unanswered; window %d",
		st.Sent, st.Answered2xx, st.AnsweredPerSecond, st.AnsweredOther, st.Unanswered, st.Window)
	if st.AnsweredOther > 0 {
		row("answered", "%s", counts(st.AnsweredByStatus))
	}
	row("notify latency", "%s", st.Latency.text())
}

// nonZero returns the entries of m that are not 0, for a summary row.
func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, n := range m {
		if n > 0 {
			out[k] = n
		}
	}
	return out
}
