package loadgen

import (
	"context"
	"flag"
	"fmt"
	"math"
	"strings"
	"time"
)

// metricXMPPPresences is the default --ingest-metric: the presence
// stanzas the server's XMPP backend ingested.
const metricXMPPPresences = "presenced_xmpp_presences_total"

// xmppFlags declares the flags of the xmpp scenario.
func (c *Config) xmppFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Distinct, "contacts", c.Distinct, "distinct contacts watched (contact-N@bench.test), whose presences the tool sends")
	c.watcherFlags(fs)
	fs.Float64Var(&c.Rate, "rate", c.Rate, "presence stanzas per second in total; 0 = as fast as the connection takes them")
	fs.StringVar(&c.XMPPListen, "xmpp-listen", c.XMPPListen, "`address` (host:port) of the tool's component port, the cluster's server; port 0 picks a free one")
	fs.StringVar(&c.Component, "component", c.Component, "component `address` presenced connects as (the cluster's component)")
	fs.StringVar(&c.Secret, "secret", "", "component `secret` (the cluster's secret), required")
	fs.StringVar(&c.XMPPDomain, "xmpp-domain", c.XMPPDomain, "the XMPP server's `domain`: sender of the privilege advertisement")
	fs.StringVar(&c.JIDDomain, "jid-domain", "", "`domain` of the contacts' JIDs (contact-N@DOMAIN, the cluster's xmpp_domain); default --xmpp-domain")
	fs.StringVar(&c.IngestMetric, "ingest-metric", c.IngestMetric, "server counter of the presence stanzas its XMPP backend ingested")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "presences before the measured window, at most 10m")
}

// validateXMPP checks the flags of the xmpp scenario.
func (c *Config) validateXMPP(bad func(flagName, format string, args ...any)) {
	c.validateWatchers(bad)
	if math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > maxRate {
		bad("rate", "must be 0 (as fast as the connection takes them) to %d, got %v", maxRate, c.Rate)
	}
	if err := checkListenAddr(c.XMPPListen); err != nil {
		bad("xmpp-listen", "%v", err)
	}
	for _, d := range []struct{ flag, v string }{{"component", c.Component}, {"xmpp-domain", c.XMPPDomain}, {"jid-domain", c.JIDDomain}} {
		if !isDNSName(d.v) {
			bad(d.flag, "must be a domain name, got %q", d.v)
		}
	}
	if c.Secret == "" {
		bad("secret", "required (the cluster's component secret)")
	}
	if c.IngestMetric == "" || !isMetricName(c.IngestMetric) {
		bad("ingest-metric", "must be a metric name, got %q", c.IngestMetric)
	}
}

// isDNSName reports whether s is a domain name of letters, digits and
// hyphens (RFC 1123 labels), so that it goes into XML and JIDs as is.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r != '-' && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && !('0' <= r && r <= '9') {
				return false
			}
		}
	}
	return true
}

// isMetricName reports whether s is a Prometheus metric name.
func isMetricName(s string) bool {
	for i := range len(s) {
		if !isNameChar(s[i], i == 0) {
			return false
		}
	}
	return s != ""
}

// runXMPP: the tool listens as the component port, the watchers subscribe
// the contacts, presenced connects and authenticates, the watchers'
// streams connect, and presence stanzas go round-robin over the contacts
// for --warmup, then for the measured --duration.
func (r *runner) runXMPP(ctx context.Context) error {
	run := runID()
	srv, err := listenXMPP(xmppOptions{
		Listen: r.cfg.XMPPListen, Component: r.cfg.Component, Secret: r.cfg.Secret,
		Domain: r.cfg.XMPPDomain, JIDDomain: r.cfg.JIDDomain, Run: run,
	}, r.warn)
	if err != nil {
		return err
	}
	defer srv.close()
	r.xmpp.Store(srv)
	fmt.Fprintf(r.out, "XMPP component port listening on %s (the cluster's server)\n", srv.addr())

	s, ss, cleanup, err := r.prepareWatchers(ctx, run, func(sctx context.Context) error {
		if err := r.waitComponent(sctx, srv); err != nil {
			return err
		}
		r.waitWatches(sctx)
		return nil
	})
	defer cleanup()
	if err != nil {
		return err
	}

	if r.cfg.Warmup > 0 {
		r.setPhase("warming up")
		wctx, stop := context.WithTimeout(ctx, r.cfg.Warmup)
		srv.sendPresences(wctx, r.cfg.Distinct, 0, r.cfg.Rate)
		stop()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.measureWindow(ctx, &srv.measuring, s, func() {
		mctx, stop := context.WithTimeout(ctx, r.cfg.Duration)
		srv.sendPresences(mctx, r.cfg.Distinct, 0, r.cfg.Rate)
		stop()
	})
	// The counters over the window itself: the ingest rate and CPU time
	// are what the server did while the tool sent.
	r.after = r.finalSnapshot(ctx)
	if s != nil {
		r.setPhase("draining")
		r.drainQuiet(ctx)
	}
	r.checkXMPP(srv)
	ss.stop()
	return nil
}

// waitComponent waits until presenced holds an authenticated component
// stream. A refused stream names its reason when the wait ends.
func (r *runner) waitComponent(ctx context.Context, srv *xmppServer) error {
	r.setPhase("component")
	for srv.session() == nil {
		if !sleep(ctx, 50*time.Millisecond) {
			why := "nothing connected: is the server on backend.kind xmpp, mode component, with the cluster's server " + srv.addr() + "?"
			if p := srv.refusal.Load(); p != nil {
				why = "the last stream was refused: " + *p
			}
			return fmt.Errorf("waiting for presenced's component connection (%s): %w", why, ctx.Err())
		}
	}
	return nil
}

// checkXMPP warns about what makes the figures doubtful.
func (r *runner) checkXMPP(srv *xmppServer) {
	c := &srv.counts
	if n := c.lost.Load(); n > 0 {
		r.warn("the component connection was lost %d time(s): stanzas buffered for it are gone", n)
	}
	if n := c.authenticated.Load(); n > 1 {
		r.warn("presenced authenticated %d component streams (one expected): it reconnected", n)
	}
	if n := c.iqRefused.Load(); n > 0 {
		r.warn("the tool answered %d IQ requests of the server with service-unavailable (it implements only ping)", n)
	}
	d := r.measureEnd.Sub(r.measureStart).Seconds()
	if d <= 0 {
		return
	}
	sent := float64(c.sent.Load()) / d
	if r.cfg.Rate > 0 && sent < 0.9*r.cfg.Rate {
		r.warn("presences reached %.0f/s of --rate %.0f: the server does not read them as fast", sent, r.cfg.Rate)
	}
	ingested, found := r.ingested()
	switch {
	case r.before != nil && r.after != nil && !found: // a failed scrape was warned about already
		r.warn("the server's /metrics has no %s: the ingest rate is unknown (see --ingest-metric)", r.cfg.IngestMetric)
	case found && float64(ingested)/d < 0.9*sent:
		r.warn("the server ingested %.0f/s of the %.0f/s sent: the rest waited in socket buffers", float64(ingested)/d, sent)
	}
}

// ingested returns the --ingest-metric's growth over the window, and
// whether the server has the metric at the window's end. A counter with
// labels shows no sample before its first increment, so one missing at
// the window's opening counts from 0.
func (r *runner) ingested() (uint64, bool) {
	if r.before == nil || r.after == nil {
		return 0, false
	}
	a, ok := r.after[r.cfg.IngestMetric]
	if !ok {
		return 0, false
	}
	return uint64(max(a-r.before[r.cfg.IngestMetric], 0)), true
}

// XMPPStats are the xmpp scenario's component-port figures.
type XMPPStats struct {
	// Listen is the component port's address; Component the address
	// presenced connected as.
	Listen    string `json:"listen"`
	Component string `json:"component"`
	// Connections are the TCP connections presenced opened;
	// Authenticated the streams that passed the handshake; Refused those
	// that did not (BadHandshake of them with a wrong secret); Lost the
	// authenticated streams that ended during the run.
	Connections   int `json:"connections"`
	Authenticated int `json:"authenticated"`
	Refused       int `json:"refused"`
	BadHandshake  int `json:"bad_handshake"`
	Lost          int `json:"lost"`
	// Received counts presenced's stanzas by kind: ping (answered),
	// iq_result, iq_refused (answered service-unavailable), presence,
	// message, other.
	Received map[string]uint64 `json:"received"`
	// Sent are the presence stanzas of the measured window.
	Sent          uint64  `json:"sent"`
	SentPerSecond float64 `json:"sent_per_second"`
	// Ingested is the IngestMetric's growth over the window (when
	// IngestMetricFound).
	IngestMetric      string  `json:"ingest_metric"`
	IngestMetricFound bool    `json:"ingest_metric_found"`
	Ingested          uint64  `json:"ingested"`
	IngestedPerSecond float64 `json:"ingested_per_second"`
}

// xmppSummary builds the component-port figures of an xmpp run.
func (r *runner) xmppSummary(srv *xmppServer, seconds float64) *XMPPStats {
	c := &srv.counts
	st := &XMPPStats{
		Listen: srv.addr(), Component: r.cfg.Component,
		Connections: int(c.connections.Load()), Authenticated: int(c.authenticated.Load()),
		Refused: int(c.refused.Load()), BadHandshake: int(c.badHandshake.Load()), Lost: int(c.lost.Load()),
		Received: map[string]uint64{
			"ping": c.pings.Load(), "iq_result": c.iqResults.Load(), "iq_refused": c.iqRefused.Load(),
			"presence": c.presences.Load(), "message": c.messages.Load(), "other": c.other.Load(),
		},
		Sent: c.sent.Load(), IngestMetric: r.cfg.IngestMetric,
	}
	st.SentPerSecond = perSecond(st.Sent, seconds)
	st.Ingested, st.IngestMetricFound = r.ingested()
	st.IngestedPerSecond = perSecond(st.Ingested, seconds)
	return st
}

// perCPUSecond returns the presences per second of server CPU time: the
// ingested ones when the server counts them, else the sent ones.
func (st *XMPPStats) perCPUSecond(cpuSeconds float64) float64 {
	if cpuSeconds <= 0 {
		return 0
	}
	if st.IngestMetricFound {
		return float64(st.Ingested) / cpuSeconds
	}
	return float64(st.Sent) / cpuSeconds
}

// text writes the XMPP rows of the text summary.
func (st *XMPPStats) text(row func(name, format string, args ...any)) {
	row("xmpp", "component port %s as %s; %d connection(s), %d authenticated, %d refused, %d lost; received %s",
		st.Listen, st.Component, st.Connections, st.Authenticated, st.Refused, st.Lost, counts(nonZero(st.Received)))
	row("presences", "%d sent (%.0f/s)", st.Sent, st.SentPerSecond)
	if st.IngestMetricFound {
		row("ingested", "%d (%.0f/s) by %s", st.Ingested, st.IngestedPerSecond, st.IngestMetric)
	} else {
		row("ingested", "unknown: no %s", st.IngestMetric)
	}
}
