package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The notify scenario's SIP server side: it plays the presence server
// presenced's SIP backend subscribes to (RFC 6665, RFC 3856), over the
// TCP connections presenced opens to it.
const (
	// sipNotifyTimeout is how long a NOTIFY may wait for its final
	// answer before it counts as unanswered (RFC 3261 Timer F).
	sipNotifyTimeout = 32 * time.Second
	// sipDefaultExpires is granted to a SUBSCRIBE without Expires
	// (RFC 3856 §6.4 suggests an hour; presenced always sends one).
	sipDefaultExpires = 3600
	sipReadBuffer     = 64 << 10
	sipWriteBuffer    = 64 << 10
)

// sipDialog is one subscription dialog the tool holds as the notifier.
type sipDialog struct {
	conn   *sipConn
	callID string
	ourTag string // the To tag of our 200, the From tag of our NOTIFYs
	entity string // the presentity URI, XML-escaped: the PIDF entity
	// head is a NOTIFY of the dialog up to its Via branch number; mid
	// from after it up to the CSeq number. Guarded by conn.mu.
	head, mid []byte
	cseq      uint32      // guarded by conn.mu: the CSeq of the last NOTIFY
	busy      atomic.Bool // a NOTIFY of the dialog awaits its final answer
	index     int         // guarded by sipServer.mu: position in dialogs; -1 once gone
}

// pendingNotify is a NOTIFY sent and not yet answered.
type pendingNotify struct {
	d        *sipDialog
	sent     int64         // unix nanos
	slot     chan struct{} // the window it holds a place in; nil for none
	measured bool
}

// sipConn is one TCP connection from presenced. Every write goes through
// bw under mu, one whole message at a time.
type sipConn struct {
	c       net.Conn
	contact string // our Contact over this connection: <sip:bench@LOCAL;transport=tcp>
	mu      sync.Mutex
	bw      *bufio.Writer // guarded by mu
	scratch []byte        // guarded by mu
}

// flush writes out what is buffered.
func (c *sipConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.bw.Flush() // a failed connection is noticed by its reader
}

// sipCounts are the requests and NOTIFYs a sipServer handled.
type sipCounts struct {
	connections atomic.Int64
	subscribes  atomic.Uint64 // initial SUBSCRIBEs that made a dialog
	refreshes   atomic.Uint64
	unsubscribe atomic.Uint64 // Expires: 0 in a dialog
	fetches     atomic.Uint64 // initial SUBSCRIBEs with Expires: 0
	options     atomic.Uint64
	refused     atomic.Uint64 // requests answered with an error status
	stray       atomic.Uint64 // answers matching no NOTIFY in flight

	initialSent, initialFailed atomic.Uint64 // first NOTIFYs of dialogs

	// The NOTIFYs sent while measuring, and their answers.
	sent, ok, other, unanswered atomic.Uint64
	latency                     Histogram // NOTIFY to final answer
	mu                          sync.Mutex
	byStatus                    map[int]uint64 // guarded by mu: final statuses of the measured NOTIFYs
}

// sipServer accepts presenced's SIP connections, answers its SUBSCRIBEs
// (keeping a dialog each) and OPTIONS, and sends NOTIFYs in the dialogs,
// matching their answers by Via branch. Its methods are safe for
// concurrent use; close stops its goroutines.
type sipServer struct {
	ln     net.Listener
	run    string // random: in tags, Call-IDs and branches
	prefix []byte // of our Via branches: z9hG4bK<run>.
	rec    *recorder
	warn   func(format string, args ...any)

	measuring atomic.Bool // NOTIFYs sent while set are measured
	seq       atomic.Uint64
	tags      atomic.Uint64
	counts    sipCounts

	mu      sync.Mutex
	dialogs []*sipDialog          // guarded by mu: round-robin order
	byCall  map[string]*sipDialog // guarded by mu
	conns   map[*sipConn]bool     // guarded by mu
	closed  bool                  // guarded by mu

	pmu     sync.Mutex
	pending map[uint64]pendingNotify // guarded by pmu, by branch number

	stop chan struct{}
	wg   sync.WaitGroup
}

// listenSIP starts a sipServer on addr (host:port; port 0 picks a free
// one). Measured answers and errors go to rec, warnings to warn.
func listenSIP(addr, run string, rec *recorder, warn func(string, ...any)) (*sipServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sip listener: %w", err)
	}
	s := &sipServer{
		ln: ln, run: run, prefix: []byte("z9hG4bK" + run + "."), rec: rec, warn: warn,
		byCall: map[string]*sipDialog{}, conns: map[*sipConn]bool{},
		pending: map[uint64]pendingNotify{}, stop: make(chan struct{}),
	}
	s.counts.byStatus = map[int]uint64{}
	s.wg.Go(s.acceptLoop)
	s.wg.Go(s.expireLoop)
	return s, nil
}

// addr returns the listening address.
func (s *sipServer) addr() string { return s.ln.Addr().String() }

// close stops accepting, closes every connection and waits for the
// server's goroutines. NOTIFYs still unanswered count as such.
func (s *sipServer) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*sipConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.stop)
	_ = s.ln.Close()
	for _, c := range conns {
		_ = c.c.Close()
	}
	s.wg.Wait()
}

func (s *sipServer) acceptLoop() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if !closed {
				s.warn("the SIP listener failed: %v", err)
			}
			return
		}
		c := &sipConn{c: nc, bw: bufio.NewWriterSize(nc, sipWriteBuffer),
			contact: "<sip:bench@" + nc.LocalAddr().String() + ";transport=tcp>"}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.counts.connections.Add(1)
		s.wg.Go(func() { s.serveConn(c) })
	}
}

// serveConn reads c's messages until it ends: answers to our NOTIFYs,
// and requests, each answered at once.
func (s *sipServer) serveConn(c *sipConn) {
	defer s.dropConn(c)
	br := bufio.NewReaderSize(c.c, sipReadBuffer)
	var m sipMessage
	for {
		err := readSIPMessage(br, &m)
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if errors.Is(err, errSIPFraming) && !closed {
				s.warn("a SIP connection from %s was closed: %v", c.c.RemoteAddr(), err)
			}
			return
		}
		if m.isResponse() {
			s.answered(&m, time.Now().UnixNano())
			continue
		}
		s.request(c, &m)
	}
}

// dropConn forgets c's dialogs and fails its NOTIFYs in flight.
func (s *sipServer) dropConn(c *sipConn) {
	_ = c.c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	var gone []*sipDialog
	for _, d := range s.dialogs {
		if d.conn == c {
			gone = append(gone, d)
		}
	}
	for _, d := range gone {
		s.forgetLocked(d)
	}
	s.mu.Unlock()
	s.failPending(func(p pendingNotify) bool { return p.d.conn == c })
}

// expireLoop fails NOTIFYs unanswered for sipNotifyTimeout, once a second.
func (s *sipServer) expireLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			limit := now.Add(-sipNotifyTimeout).UnixNano()
			s.failPending(func(p pendingNotify) bool { return p.sent < limit })
		}
	}
}

// failPending ends the NOTIFYs in flight that match as unanswered.
func (s *sipServer) failPending(match func(pendingNotify) bool) {
	var failed []pendingNotify
	s.pmu.Lock()
	for n, p := range s.pending {
		if match(p) {
			failed = append(failed, p)
			delete(s.pending, n)
		}
	}
	s.pmu.Unlock()
	for _, p := range failed {
		s.finish(p, 0, 0)
	}
}

// answered matches a response to its NOTIFY by the Via branch.
func (s *sipServer) answered(m *sipMessage, now int64) {
	code := m.status()
	if code < 200 {
		return // provisional: the final answer follows
	}
	branch, _ := sipParam(m.header("Via"), "branch")
	n, ok := s.branchNumber(branch)
	if ok {
		s.pmu.Lock()
		var p pendingNotify
		p, ok = s.pending[n]
		delete(s.pending, n)
		s.pmu.Unlock()
		if ok {
			s.finish(p, code, now)
			return
		}
	}
	s.counts.stray.Add(1)
}

// branchNumber parses the number of one of our branches.
func (s *sipServer) branchNumber(branch []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(branch, s.prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest), 10, 64)
	return n, err == nil
}

// finish records the final answer code (0: none) of p received at now.
func (s *sipServer) finish(p pendingNotify, code int, now int64) {
	p.d.busy.Store(false)
	if p.slot != nil {
		<-p.slot
	}
	if !p.measured {
		if p.slot == nil && code/100 != 2 {
			s.counts.initialFailed.Add(1)
		}
		return
	}
	if code == 0 {
		s.counts.unanswered.Add(1)
		s.rec.failClass("sip_unanswered")
		return
	}
	s.counts.mu.Lock()
	s.counts.byStatus[code]++
	s.counts.mu.Unlock()
	s.counts.latency.Record(time.Duration(now - p.sent))
	if code/100 == 2 {
		s.counts.ok.Add(1)
		return
	}
	s.counts.other.Add(1)
	s.rec.fail(&callError{Status: code, Code: "sip_" + strconv.Itoa(code)})
}

// dialogCount returns the dialogs held and how many of them still wait
// for the answer to their first NOTIFY.
func (s *sipServer) dialogCount() (dialogs, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.dialogs {
		if d.busy.Load() {
			waiting++
		}
	}
	return len(s.dialogs), waiting
}

// inFlight returns the NOTIFYs awaiting an answer.
func (s *sipServer) inFlight() int {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return len(s.pending)
}

// connections returns the connections open now.
func (s *sipServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// addLocked adds d to the dialogs.
func (s *sipServer) addLocked(d *sipDialog) {
	d.index = len(s.dialogs)
	s.dialogs = append(s.dialogs, d)
	s.byCall[d.callID] = d
}

// forgetLocked removes d (swapping the last dialog into its place).
func (s *sipServer) forgetLocked(d *sipDialog) {
	if d.index < 0 {
		return
	}
	last := s.dialogs[len(s.dialogs)-1]
	s.dialogs[d.index], last.index = last, d.index
	s.dialogs = s.dialogs[:len(s.dialogs)-1]
	d.index = -1
	if s.byCall[d.callID] == d {
		delete(s.byCall, d.callID)
	}
}

// pick returns the next dialog, from *next round-robin, with no NOTIFY in
// flight, marked busy; nil when every dialog is busy.
func (s *sipServer) pick(next *int) *sipDialog {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.dialogs)
	for i := range n {
		d := s.dialogs[(*next+i)%n]
		if d.busy.CompareAndSwap(false, true) {
			*next = (*next + i + 1) % n
			return d
		}
	}
	return nil
}

// newTag returns a fresh tag or Call-ID part.
func (s *sipServer) newTag() string { return s.run + "-" + strconv.FormatUint(s.tags.Add(1), 10) }
