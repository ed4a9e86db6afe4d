package loadgen

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/go-cmp/cmp"
)

// fakeWatcher plays presenced's SIP backend against a sipServer: one TCP
// connection, SUBSCRIBEs written raw, every message read back through
// sipgo's stream parser (the parser presenced uses).
type fakeWatcher struct {
	t    *testing.T
	conn net.Conn
	msgs chan sip.Message
	done chan struct{}
}

func dialFakeWatcher(t *testing.T, addr string) *fakeWatcher {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	w := &fakeWatcher{t: t, conn: conn, msgs: make(chan sip.Message, 1024), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer close(w.msgs)
		par := sip.NewParser().NewSIPStream()
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if err := par.ParseSIPStream(buf[:n], func(m sip.Message) { w.msgs <- m }); err != nil && err != sip.ErrParseSipPartial {
				t.Errorf("sipgo cannot parse what the tool sent: %v\n%s", err, buf[:n])
				return
			}
		}
	}()
	return w
}

// close ends the connection and waits for the reader.
func (w *fakeWatcher) close() {
	_ = w.conn.Close()
	<-w.done
}

func (w *fakeWatcher) send(raw string) {
	w.t.Helper()
	if _, err := w.conn.Write([]byte(raw)); err != nil {
		w.t.Fatal(err)
	}
}

// next returns the next message, failing after 10 s.
func (w *fakeWatcher) next() sip.Message {
	w.t.Helper()
	select {
	case m, ok := <-w.msgs:
		if !ok {
			w.t.Fatal("connection closed")
		}
		return m
	case <-time.After(10 * time.Second):
		w.t.Fatal("no message within 10s")
	}
	return nil
}

func (w *fakeWatcher) response() *sip.Response {
	w.t.Helper()
	m := w.next()
	res, ok := m.(*sip.Response)
	if !ok {
		w.t.Fatalf("got %s, want a response", m.String())
	}
	return res
}

func (w *fakeWatcher) notify() *sip.Request {
	w.t.Helper()
	m := w.next()
	req, ok := m.(*sip.Request)
	if !ok || req.Method != sip.NOTIFY {
		w.t.Fatalf("got %s, want a NOTIFY", m.String())
	}
	return req
}

// answer answers req with code; a failed write shows as a NOTIFY
// unanswered.
func (w *fakeWatcher) answer(req *sip.Request, code int) {
	_, _ = w.conn.Write([]byte(sip.NewResponseFromRequest(req, code, "X", nil).String()))
}

// subscribe is a SUBSCRIBE of presentity from watcher over w's connection,
// as presenced's watcher sends it; toTag "" makes it an initial one.
func (w *fakeWatcher) subscribe(callID, toTag string, cseq, expires int, presentity string) string {
	to := "<sip:" + presentity + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	local := w.conn.LocalAddr().String()
	return fmt.Sprintf("SUBSCRIBE sip:%s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-%s-%d;rport\r\n"+
		"From: <sip:presence_h@bench.test>;tag=ft-%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d SUBSCRIBE\r\n"+
		"Max-Forwards: 70\r\nEvent: presence\r\nAccept: application/pidf+xml\r\nExpires: %d\r\n"+
		"Contact: <sip:presence_h@%s;transport=tcp>\r\nContent-Length: 0\r\n\r\n",
		presentity, local, callID, cseq, callID, to, callID, cseq, expires, local)
}

// notifySeen is what the test checks of a NOTIFY.
type notifySeen struct {
	RequestURI, From, To, CallID, Event, State, ContentType string
	Busy                                                    bool
	Entity                                                  bool
}

func seen(req *sip.Request) notifySeen {
	h := func(name string) string {
		if v := req.GetHeader(name); v != nil {
			return v.Value()
		}
		return ""
	}
	body := string(req.Body())
	return notifySeen{
		RequestURI: req.Recipient.String(), From: h("From"), To: h("To"), CallID: h("Call-ID"),
		Event: h("Event"), State: h("Subscription-State"), ContentType: h("Content-Type"),
		Busy:   strings.Contains(body, "<rpid:busy/>"),
		Entity: strings.Contains(body, `entity="sip:`+strings.TrimPrefix(strings.Trim(strings.SplitN(h("From"), ";", 2)[0], "<>"), "sip:")+`"`),
	}
}

// warnings collects a sipServer's warnings.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) warn(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, fmt.Sprintf(format, args...))
}

// waitFor polls cond with a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSIPServerDialogs drives the tool's SIP server with a fake presenced
// over loopback: OPTIONS, SUBSCRIBEs making dialogs with their first
// NOTIFYs, refresh, fetch, un-SUBSCRIBE and the refusals.
func TestSIPServerDialogs(t *testing.T) {
	rec := &recorder{}
	var warned warnings
	srv, err := listenSIP("127.0.0.1:0", "r1", rec, warned.warn)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	w := dialFakeWatcher(t, srv.addr())
	defer w.close()
	ours := "<sip:bench@" + srv.addr() + ";transport=tcp>"
	them := "sip:presence_h@" + w.conn.LocalAddr().String() + ";transport=tcp"

	w.send("OPTIONS sip:" + srv.addr() + " SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bKo\r\nFrom: <sip:presenced@invalid>;tag=o\r\n" +
		"To: <sip:" + srv.addr() + ">\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	if res := w.response(); res.StatusCode != 200 || res.CSeq().MethodName != sip.OPTIONS {
		t.Fatalf("OPTIONS answered %s", res.StartLine())
	}

	// A new SUBSCRIBE: 200 with a To tag, Expires and our Contact, then
	// the first NOTIFY of the dialog.
	w.send(w.subscribe("c1", "", 10, 600, "contact-1@bench.test"))
	res := w.response()
	toTag, _ := res.To().Params.Get("tag")
	type answer struct {
		Code                           int
		Via, From, CallID, CSeq, Expir string
		Contact                        string
		Tagged                         bool
	}
	gotAnswer := answer{res.StatusCode, res.Via().Value(), res.From().Value(), res.CallID().Value(), res.CSeq().Value(),
		res.GetHeader("Expires").Value(), res.Contact().Value(), toTag != ""}
	wantAnswer := answer{200, "SIP/2.0/TCP " + w.conn.LocalAddr().String() + ";branch=z9hG4bK-c1-10;rport",
		"<sip:presence_h@bench.test>;tag=ft-c1", "c1", "10 SUBSCRIBE", "600", ours, true}
	if diff := cmp.Diff(wantAnswer, gotAnswer); diff != "" {
		t.Fatalf("200 to SUBSCRIBE (-want +got):\n%s", diff)
	}
	first := w.notify()
	wantFirst := notifySeen{RequestURI: them, From: "<sip:contact-1@bench.test>;tag=" + toTag, To: "<sip:presence_h@bench.test>;tag=ft-c1",
		CallID: "c1", Event: "presence", State: "active;expires=600", ContentType: "application/pidf+xml", Entity: true}
	if diff := cmp.Diff(wantFirst, seen(first)); diff != "" {
		t.Errorf("first NOTIFY (-want +got):\n%s", diff)
	}
	if n, waiting := srv.dialogCount(); n != 1 || waiting != 1 {
		t.Errorf("before the first NOTIFY is answered: %d dialogs, %d waiting; want 1, 1", n, waiting)
	}
	w.answer(first, 200)
	waitFor(t, "the first NOTIFY answered", func() bool { _, waiting := srv.dialogCount(); return waiting == 0 })

	// Refresh in the dialog; an unknown dialog; a fetch; a bad event; a
	// method the tool does not serve.
	w.send(w.subscribe("c1", toTag, 11, 300, "contact-1@bench.test"))
	if res := w.response(); res.StatusCode != 200 || res.GetHeader("Expires").Value() != "300" {
		t.Errorf("refresh answered %s Expires %v", res.StartLine(), res.GetHeader("Expires"))
	}
	w.send(w.subscribe("c9", "nosuchtag", 2, 600, "contact-9@bench.test"))
	if res := w.response(); res.StatusCode != 481 {
		t.Errorf("SUBSCRIBE in an unknown dialog answered %s, want 481", res.StartLine())
	}
	w.send(w.subscribe("f1", "", 1, 0, "contact-2@bench.test"))
	if res := w.response(); res.StatusCode != 200 {
		t.Errorf("fetch answered %s", res.StartLine())
	}
	fetched := w.notify()
	if s := seen(fetched); s.State != "terminated;reason=timeout" || s.CallID != "f1" || !s.Entity {
		t.Errorf("fetch NOTIFY %+v, want terminated;reason=timeout for f1", s)
	}
	w.answer(fetched, 200)
	w.send(strings.Replace(w.subscribe("e1", "", 1, 600, "contact-3@bench.test"), "Event: presence", "Event: dialog", 1))
	if res := w.response(); res.StatusCode != 489 {
		t.Errorf("Event: dialog answered %s, want 489", res.StartLine())
	}
	w.send(strings.Replace(w.subscribe("p1", "", 1, 600, "contact-3@bench.test"), "SUBSCRIBE", "PUBLISH", 2))
	if res := w.response(); res.StatusCode != 405 {
		t.Errorf("PUBLISH answered %s, want 405", res.StartLine())
	}

	// Un-SUBSCRIBE: 200, and the dialog is gone.
	w.send(w.subscribe("c1", toTag, 12, 0, "contact-1@bench.test"))
	if res := w.response(); res.StatusCode != 200 || res.GetHeader("Expires").Value() != "0" {
		t.Errorf("un-SUBSCRIBE answered %s", res.StartLine())
	}
	if n, _ := srv.dialogCount(); n != 0 {
		t.Errorf("%d dialogs after the un-SUBSCRIBE, want 0", n)
	}
	c := &srv.counts
	got := map[string]uint64{"subscribe": c.subscribes.Load(), "refresh": c.refreshes.Load(), "unsubscribe": c.unsubscribe.Load(),
		"fetch": c.fetches.Load(), "options": c.options.Load(), "refused": c.refused.Load(), "initial": c.initialSent.Load(),
		"initial failed": c.initialFailed.Load(), "stray": c.stray.Load()}
	want := map[string]uint64{"subscribe": 1, "refresh": 1, "unsubscribe": 1, "fetch": 1, "options": 1, "refused": 3, "initial": 2,
		"initial failed": 0, "stray": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if len(warned.list) > 0 {
		t.Errorf("warnings: %q", warned.list)
	}
}

// TestSIPServerNotifies holds dialogs of a fake presenced and sends
// NOTIFYs through the window: each dialog's CSeqs grow one by one, its
// availability alternates, no dialog ever has two NOTIFYs in flight, and
// every answer is counted by status.
func TestSIPServerNotifies(t *testing.T) {
	rec := &recorder{}
	var warned warnings
	srv, err := listenSIP("127.0.0.1:0", "r2", rec, warned.warn)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	w := dialFakeWatcher(t, srv.addr())
	const dialogs = 4
	for i := range dialogs {
		w.send(w.subscribe(fmt.Sprintf("call-%d", i), "", 1, 600, fmt.Sprintf("contact-%d@bench.test", i)))
	}
	// The last dialog's NOTIFYs are refused, as by a watcher that lost it.
	refused := fmt.Sprintf("call-%d", dialogs-1)

	type dialogSeen struct {
		last    uint32
		busy    bool
		notifys int
	}
	byCall := map[string]*dialogSeen{}
	var problems []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // answer in batches: what arrived together is answered together
		defer close(done)
		var batch []*sip.Request
		for {
			var m sip.Message
			var ok bool
			if len(batch) == 0 {
				select {
				case m, ok = <-w.msgs:
				case <-stop:
					return
				}
			} else {
				select {
				case m, ok = <-w.msgs:
				default:
					inBatch := map[string]bool{}
					for _, req := range batch {
						id := req.CallID().Value()
						if inBatch[id] {
							problems = append(problems, "two NOTIFYs of "+id+" in flight")
						}
						inBatch[id] = true
						code := 200
						if id == refused {
							code = 481
						}
						w.answer(req, code)
					}
					batch = batch[:0]
					continue
				}
			}
			if !ok {
				return
			}
			req, isReq := m.(*sip.Request)
			if !isReq {
				continue // the 200s to the SUBSCRIBEs
			}
			id := req.CallID().Value()
			d := byCall[id]
			if d == nil {
				d = &dialogSeen{}
				byCall[id] = d
			}
			busy := strings.Contains(string(req.Body()), "<rpid:busy/>")
			if seq := req.CSeq().SeqNo; seq != d.last+1 || (d.notifys > 0 && busy == d.busy) {
				problems = append(problems, fmt.Sprintf("%s: CSeq %d (busy %v) after %d (busy %v)", id, seq, busy, d.last, d.busy))
			}
			d.last, d.busy = req.CSeq().SeqNo, busy
			d.notifys++
			batch = append(batch, req)
		}
	}()
	waitFor(t, "the dialogs", func() bool { n, waiting := srv.dialogCount(); return n == dialogs && waiting == 0 })

	srv.measuring.Store(true)
	srv.sendNotifies(context.Background(), 300*time.Millisecond, 0, 64)
	srv.measuring.Store(false)
	srv.drainNotifies(context.Background(), 10*time.Second)
	close(stop)
	<-done
	w.close()

	for _, p := range problems {
		t.Error(p)
	}
	c := &srv.counts
	sent, ok, other, unanswered := c.sent.Load(), c.ok.Load(), c.other.Load(), c.unanswered.Load()
	if sent == 0 || ok == 0 || other == 0 || sent != ok+other+unanswered || unanswered != 0 {
		t.Errorf("sent %d = 2xx %d + other %d + unanswered %d: want all answered, some refused", sent, ok, other, unanswered)
	}
	c.mu.Lock()
	byStatus := map[int]uint64{}
	for k, v := range c.byStatus {
		byStatus[k] = v
	}
	c.mu.Unlock()
	if diff := cmp.Diff(map[int]uint64{200: ok, 481: other}, byStatus); diff != "" {
		t.Errorf("answers by status (-want +got):\n%s", diff)
	}
	if c.latency.Count() != ok+other {
		t.Errorf("%d latencies for %d answers", c.latency.Count(), ok+other)
	}
	codes, _ := rec.errorCounts()
	if diff := cmp.Diff(map[string]uint64{"sip_481": other}, codes); diff != "" {
		t.Errorf("recorded errors (-want +got):\n%s", diff)
	}
	if len(byCall) != dialogs {
		t.Errorf("NOTIFYs of %d dialogs, want %d", len(byCall), dialogs)
	}
	// The connection is gone: so are its dialogs.
	waitFor(t, "the dialogs dropped", func() bool { n, _ := srv.dialogCount(); return n == 0 })
	if len(warned.list) > 0 {
		t.Errorf("warnings: %q", warned.list)
	}
}
