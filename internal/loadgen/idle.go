package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// idleReadLimit bounds a frame on an idle stream: it carries pings and,
// at most, an expiry or goaway notice.
const idleReadLimit = 64 << 10

// closeNormal is the close frame the tool ends its idle streams with.
var closeNormal = websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")

// IdleStats is the idle scenario's part of the summary: the streams
// opened and how fast, and the server's memory before the first connect,
// --settle after the last, and at the end of --duration.
type IdleStats struct {
	Connections int      `json:"connections"` // streams asked for
	Users       int      `json:"users"`
	Sources     []string `json:"sources"`
	Opened      int      `json:"opened"` // streams opened
	// Failed are handshakes that failed; Errors counts them by code or
	// class. Ended are opened streams that ended before the run did.
	Failed            int     `json:"failed"`
	Ended             int     `json:"ended"`
	ConnectSeconds    float64 `json:"connect_seconds"` // from the first connect to the last handshake
	ConnectsPerSecond float64 `json:"connects_per_second"`
	// HandshakeLatency is TCP connect plus WebSocket upgrade of the opened
	// streams.
	HandshakeLatency Latency `json:"handshake_latency_ms"`
	// The readings; nil when /metrics could not be read (or the run ended
	// before that point).
	Before      *ServerMemory `json:"before"`
	AfterSettle *IdleReading  `json:"after_settle"`
	AtEnd       *IdleReading  `json:"at_end"`
}

// ServerMemory is one reading of the server's memory figures.
type ServerMemory struct {
	RSSBytes        uint64 `json:"rss_bytes"`         // process_resident_memory_bytes
	HeapInuseBytes  uint64 `json:"heap_inuse_bytes"`  // go_memstats_heap_inuse_bytes
	StackInuseBytes uint64 `json:"stack_inuse_bytes"` // go_memstats_stack_inuse_bytes
	Goroutines      int    `json:"goroutines"`        // go_goroutines
	// StreamClients is presenced_stream_clients{transport="websocket"}.
	StreamClients int `json:"stream_clients"`
}

// IdleReading is a reading taken while the streams are held.
type IdleReading struct {
	// Open are the tool's streams open at the reading: the divisor of
	// PerConnection.
	Open   int          `json:"open"`
	Server ServerMemory `json:"server"`
	// PerConnection is the growth since Before divided by Open; nil
	// without a Before reading.
	PerConnection *PerConnection `json:"per_connection"`
}

// PerConnection is the server's growth per open stream.
type PerConnection struct {
	RSSBytes        float64 `json:"rss_bytes"`
	HeapInuseBytes  float64 `json:"heap_inuse_bytes"`
	StackInuseBytes float64 `json:"stack_inuse_bytes"`
	Goroutines      float64 `json:"goroutines"`
}

// runIdle: --connections WebSocket streams of --users users, spread
// round-robin over the --sources, are opened with --concurrency
// handshakes in flight and held (each read by its own goroutine, so that
// pings are answered) for --duration after the last opened. The server's
// memory is read before the first connect, after --settle and at the end.
func (r *runner) runIdle(ctx context.Context) error {
	st := &IdleStats{Connections: r.cfg.Connections, Users: r.cfg.Users, Sources: r.cfg.params().Sources}
	r.idle = st
	sctx, cancel := r.setupContext(ctx)
	defer cancel()
	tokens, err := r.mint(sctx, watcherPrefix, r.cfg.Users)
	if err != nil {
		return setupErr(sctx, err)
	}
	st.Before = r.memory(r.snapshot(ctx))

	ic := &idleConns{r: r, conns: make([]*websocket.Conn, r.cfg.Connections)}
	r.idleConns.Store(ic)
	defer ic.stop()
	firstErr := r.connectIdle(sctx, ic, tokens)
	timedOut := sctx.Err() != nil && ctx.Err() == nil && st.Opened+st.Failed < st.Connections
	cancel()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case st.Opened == 0 && firstErr == nil:
		return fmt.Errorf("no stream opened: %w", context.Cause(sctx))
	case st.Opened == 0:
		return fmt.Errorf("no stream opened: %w", firstErr)
	case timedOut:
		r.warn("--setup-timeout %v ended the connects after %d of %d streams opened", r.cfg.SetupTimeout, st.Opened, st.Connections)
	}

	r.before = r.snapshot(ctx)
	r.beginMeasure()
	r.setPhase("settling")
	if sleep(ctx, r.cfg.Settle) {
		st.AfterSettle = r.idleReading(r.snapshot(ctx), ic.open(), "after --settle")
		r.setPhase("holding")
		sleep(ctx, time.Until(r.measureStart.Add(r.cfg.Duration)))
	}
	r.after = r.finalSnapshot(ctx)
	st.AtEnd = r.idleReading(r.after, ic.open(), "at the end")
	r.endMeasure()
	ic.stop()
	st.Ended = int(ic.ended.Load())
	if st.Opened < st.Connections && ctx.Err() == nil {
		if firstErr == nil {
			return fmt.Errorf("opened %d of %d streams", st.Opened, st.Connections)
		}
		return fmt.Errorf("opened %d of %d streams (%d handshakes failed; the first: %w)", st.Opened, st.Connections, st.Failed, firstErr)
	}
	return nil
}

// connectIdle opens the streams into ic until all are tried or ctx ends,
// records the outcome in r.idle and returns the first failure. A failed
// handshake is counted and the others carry on: where a server starts
// refusing is a finding.
func (r *runner) connectIdle(ctx context.Context, ic *idleConns, tokens []string) error {
	dialers := make([]*websocket.Dialer, len(r.cfg.Sources))
	for i, src := range r.cfg.Sources {
		dialers[i] = r.c.idleDialer(src)
	}
	n := r.cfg.Connections
	var failed, done atomic.Int64
	var mu sync.Mutex
	var firstErr error // guarded by mu
	r.setPhase(fmt.Sprintf("connecting 0/%d", n))
	start := time.Now()
	_ = forEach(ctx, n, r.cfg.Concurrency, func(ctx context.Context, i int) error {
		t := time.Now()
		conn, err := r.c.dialStream(ctx, dialers[i%len(dialers)], tokens[i%len(tokens)])
		switch {
		case err == nil:
			r.handshakes.Record(time.Since(t))
			ic.hold(i, conn)
		case ctx.Err() != nil:
			// Cut short by an interrupt or --setup-timeout: not the
			// server's doing, not counted.
		default:
			failed.Add(1)
			r.rec.fail(err)
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("stream %d of %s from %s: %w", i+1, email(watcherPrefix, i%len(tokens)), r.cfg.Sources[i%len(dialers)], err)
			}
			mu.Unlock()
		}
		if k := done.Add(1); k%64 == 0 || k == int64(n) {
			r.setPhase(fmt.Sprintf("connecting %d/%d", ic.opened.Load(), n))
		}
		return nil
	})
	st := r.idle
	st.Opened, st.Failed = int(ic.opened.Load()), int(failed.Load())
	st.ConnectSeconds = time.Since(start).Seconds()
	st.ConnectsPerSecond = perSecond(uint64(st.Opened), st.ConnectSeconds)
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}

// memory reads the memory figures from m, warning about the ones the
// server does not export; nil when m is.
func (r *runner) memory(m Metrics) *ServerMemory {
	if m == nil {
		return nil
	}
	for _, name := range []string{metricRSS, metricHeapInuse, metricStackInuse, metricGoroutines, metricWebSocketClients} {
		if _, ok := m[name]; !ok {
			r.warn("the server's /metrics has no %s: it reads as 0", name)
		}
	}
	return &ServerMemory{
		RSSBytes:        uint64(max(m[metricRSS], 0)),
		HeapInuseBytes:  uint64(max(m[metricHeapInuse], 0)),
		StackInuseBytes: uint64(max(m[metricStackInuse], 0)),
		Goroutines:      int(m[metricGoroutines]),
		StreamClients:   int(m[metricWebSocketClients]),
	}
}

// idleReading turns the metrics m, read while open streams were held,
// into a reading with the growth per stream since the Before reading,
// and warns when the server counts other than the streams it should.
func (r *runner) idleReading(m Metrics, open int, when string) *IdleReading {
	mem := r.memory(m)
	if mem == nil {
		return nil
	}
	rd := &IdleReading{Open: open, Server: *mem}
	b := r.idle.Before
	if b == nil {
		return rd
	}
	if want := b.StreamClients + open; mem.StreamClients != want {
		r.warn("%s the server counts %d WebSocket streams (%s), not the %d expected (%d before the run and %d open)",
			when, mem.StreamClients, metricWebSocketClients, want, b.StreamClients, open)
	}
	if open > 0 {
		per := func(after, before uint64) float64 { return (float64(after) - float64(before)) / float64(open) }
		rd.PerConnection = &PerConnection{
			RSSBytes:        per(mem.RSSBytes, b.RSSBytes),
			HeapInuseBytes:  per(mem.HeapInuseBytes, b.HeapInuseBytes),
			StackInuseBytes: per(mem.StackInuseBytes, b.StackInuseBytes),
			Goroutines:      float64(mem.Goroutines-b.Goroutines) / float64(open),
		}
		if p := rd.PerConnection; p.RSSBytes < 0 || p.HeapInuseBytes < 0 || p.StackInuseBytes < 0 || p.Goroutines < 0 {
			r.warn("%s the server's memory is below its reading before the first connect, so it was not at rest then (the memory of an earlier run not yet collected?): measure against a freshly started server", when)
		}
	}
	return rd
}

// idleConns are the open streams of an idle run, each read by its own
// goroutine until stop closes it.
type idleConns struct {
	r        *runner
	wg       sync.WaitGroup
	stopping atomic.Bool
	opened   atomic.Int64 // streams held
	ended    atomic.Int64 // held streams that ended before stop

	mu sync.Mutex
	// conns holds every open stream by its index (nil until opened), so
	// that none is dropped (and closed by its finalizer) before stop;
	// nil after stop. Guarded by mu.
	conns []*websocket.Conn
}

// hold keeps stream i and starts its reader.
func (ic *idleConns) hold(i int, conn *websocket.Conn) {
	conn.SetReadLimit(idleReadLimit)
	ic.mu.Lock()
	if ic.conns == nil { // stopped: too late
		ic.mu.Unlock()
		_ = conn.Close()
		return
	}
	ic.conns[i] = conn
	ic.opened.Add(1)
	ic.mu.Unlock()
	ic.wg.Go(func() { ic.read(conn) })
}

// open returns the number of held streams that have not ended.
func (ic *idleConns) open() int { return int(ic.opened.Load() - ic.ended.Load()) }

// read discards what the server sends until the stream ends; reading is
// what makes gorilla/websocket answer the server's pings.
func (ic *idleConns) read(conn *websocket.Conn) {
	for {
		_, rd, err := conn.NextReader()
		if err == nil {
			_, err = io.Copy(io.Discard, rd)
		}
		if err != nil {
			if !ic.stopping.Load() {
				ic.ended.Add(1)
				class := transportClass(err)
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					class = "ws_close_" + strconv.Itoa(ce.Code)
				}
				ic.r.rec.failClass(class)
				ic.r.warn("streams ended during the run (%s): the server closed them or stopped answering", class)
			}
			return
		}
	}
}

// stop closes every stream with a normal close frame and waits for the
// readers. Later calls only wait.
func (ic *idleConns) stop() {
	if ic.stopping.Swap(true) {
		ic.wg.Wait()
		return
	}
	ic.mu.Lock()
	conns := ic.conns
	ic.conns = nil
	ic.mu.Unlock()
	ic.r.setPhase("closing")
	_ = forEach(context.Background(), len(conns), 64, func(_ context.Context, i int) error {
		if c := conns[i]; c != nil {
			_ = c.WriteControl(websocket.CloseMessage, closeNormal, time.Now().Add(time.Second))
			_ = c.Close()
		}
		return nil
	})
	ic.wg.Wait()
}

// text writes the idle rows of the text summary.
func (st *IdleStats) text(row func(name, format string, args ...any)) {
	sources := "source addresses"
	if len(st.Sources) == 1 {
		sources = "source address"
	}
	row("streams", "%d of %d opened, %d failed, %d ended early; %d users, %d %s",
		st.Opened, st.Connections, st.Failed, st.Ended, st.Users, len(st.Sources), sources)
	row("connect", "%.2fs (%.0f/s)", st.ConnectSeconds, st.ConnectsPerSecond)
	row("handshake latency", "%s", st.HandshakeLatency.text())
	row("server before", "%s", st.Before.text())
	for _, rd := range []struct {
		name string
		r    *IdleReading
	}{{"after settle", st.AfterSettle}, {"at end", st.AtEnd}} {
		if rd.r == nil {
			row(rd.name, "not read")
			continue
		}
		row(rd.name, "%s", rd.r.Server.text())
		if p := rd.r.PerConnection; p != nil {
			row("  per connection", "rss %s  heap %s  stack %s  goroutines %.2f  (%d open)",
				kib(p.RSSBytes), kib(p.HeapInuseBytes), kib(p.StackInuseBytes), p.Goroutines, rd.r.Open)
		}
	}
}

func (m *ServerMemory) text() string {
	if m == nil {
		return "not read"
	}
	mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	return fmt.Sprintf("rss %s  heap %s  stack %s  goroutines %d  websocket streams %d",
		mib(m.RSSBytes), mib(m.HeapInuseBytes), mib(m.StackInuseBytes), m.Goroutines, m.StreamClients)
}

// kib formats bytes in KiB with two decimals.
func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }
