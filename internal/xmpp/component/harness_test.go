package component

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/xmpp/xmpptestclient"
)

// TestMain fails the package if a test leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventually bounds every wait for something the server does; it only
// turns a hang into a failure.
const eventually = 30 * time.Second

// server is what the tests need of prosodytest.Server and
// ejabberdtest.Server.
type server interface {
	C2SAddr() string
	ComponentAddr() string
	Domain() string
	Component() string
	Secret() string
	AddUser(tb testing.TB, user, password string)
	Restart(tb testing.TB)
	LogTail(n int) string
}

// peer is a server under test with what differs between the two.
type peer struct {
	server
	name      string
	pool      *x509.CertPool
	namespace string // XEP-0356 namespace it advertises
}

// running is a Conn whose Run goroutine the test owns.
type running struct {
	*Conn
	states    chan State
	presences chan []byte
	elements  chan []byte // every element received (trace)
	logs      *logRecorder
	cancel    context.CancelFunc
	done      chan error
}

// start runs a Conn for p's component with cfg's non-zero fields over
// the defaults of the tests, and stops it when the test ends.
func start(t *testing.T, p peer, cfg Config) *running {
	t.Helper()
	r := &running{
		states:    make(chan State, 1024),
		presences: make(chan []byte, 1024),
		elements:  make(chan []byte, 4096),
		logs:      &logRecorder{},
		done:      make(chan error, 1),
	}
	if cfg.Addr == "" {
		cfg.Addr = p.ComponentAddr()
	}
	if cfg.JID == "" {
		cfg.JID = p.Component()
	}
	if cfg.Secret == "" {
		cfg.Secret = p.Secret()
	}
	if cfg.Domain == "" {
		cfg.Domain = p.Domain()
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase, cfg.RetryMax = 100*time.Millisecond, time.Second
	}
	cfg.Logger = slog.New(r.logs)
	cfg.OnState = func(s State) { push(t, r.states, s) }
	cfg.OnPresence = func(raw []byte) { push(t, r.presences, raw) }
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.trace = func(raw []byte) { push(t, r.elements, raw) }
	r.Conn = c
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop cancels Run and waits for it to return.
func (r *running) stop() {
	r.cancel()
	if r.done != nil {
		<-r.done
		r.done = nil
	}
}

// push sends v on ch without blocking the Conn's goroutines; a full
// channel means the test stopped reading and fails it.
func push[T any](t *testing.T, ch chan T, v T) {
	select {
	case ch <- v:
	default:
		t.Errorf("test channel full (cap %d), dropped a value", cap(ch))
	}
}

// waitState reads states until pred holds and returns that state and the
// states seen before it.
func (r *running) waitState(t *testing.T, what string, pred func(State) bool) (State, []State) {
	t.Helper()
	var seen []State
	timeout := time.After(eventually)
	for {
		select {
		case s := <-r.states:
			if pred(s) {
				return s, seen
			}
			seen = append(seen, s)
		case <-timeout:
			t.Fatalf("no state %s within %v; states seen %v; Health %v", what, eventually, seen, r.Health())
		}
	}
}

// privileged waits until the Conn is connected and privileged.
func (r *running) privileged(t *testing.T) State {
	t.Helper()
	s, _ := r.waitState(t, "connected and privileged", func(s State) bool { return s.Connected && s.Privileged })
	return s
}

// stanza is what the tests compare of a received stanza.
type stanza struct {
	Space  string `xml:"-"`
	Name   string `xml:"-"`
	ID     string `xml:"id,attr"`
	From   string `xml:"from,attr"`
	To     string `xml:"to,attr"`
	Type   string `xml:"type,attr"`
	Show   string `xml:"show"`
	Status string `xml:"status"`
}

// parse decodes raw, which must be one element.
func parse(t *testing.T, raw []byte) stanza {
	t.Helper()
	var v struct {
		XMLName xml.Name
		stanza
	}
	if err := xml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("received element %q does not parse alone: %v", raw, err)
	}
	v.stanza.Space, v.stanza.Name = v.XMLName.Space, v.XMLName.Local
	return v.stanza
}

// waitPresence reads presences until one from from matching pred.
func (r *running) waitPresence(t *testing.T, from string, pred func(stanza) bool) stanza {
	t.Helper()
	timeout := time.After(eventually)
	var seen []string
	for {
		select {
		case raw := <-r.presences:
			p := parse(t, raw)
			if p.From == from && pred(p) {
				return p
			}
			seen = append(seen, string(raw))
		case <-timeout:
			t.Fatalf("no matching presence from %s within %v; got:\n%s", from, eventually, strings.Join(seen, "\n"))
		}
	}
}

// login logs user in at p with resource and closes it when the test
// ends. The caller must drain its presences (see echoed).
func login(t *testing.T, p peer, user, password, resource string) *xmpptestclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	jid := user + "@" + p.Domain() + "/" + resource
	c, err := xmpptestclient.Dial(ctx, p.C2SAddr(), jid, password,
		&tls.Config{ServerName: p.Domain(), RootCAs: p.pool})
	if err != nil {
		t.Fatalf("log in %s: %v\n--- %s log ---\n%s", jid, err, p.name, p.LogTail(20))
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoed waits until c receives its own presence back with status, then
// drains c's presences until the end of the test.
func echoed(t *testing.T, c *xmpptestclient.Client, status string) {
	t.Helper()
	timeout := time.After(eventually)
	for done := false; !done; {
		select {
		case p := <-c.Presences():
			done = p.From == c.JID() && p.Status == status
		case <-timeout:
			t.Fatalf("%s got no echo of its presence within %v", c.JID(), eventually)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range c.Presences() {
		}
	})
	t.Cleanup(func() {
		c.Close()
		wg.Wait()
	})
}

// logRecorder is a slog.Handler keeping every record's message and
// attributes as one line.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	// Attributes given once (jid, addr) are not needed by the tests.
	return h
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// matching returns the recorded lines containing s.
func (h *logRecorder) matching(s string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range h.lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// all returns every recorded line.
func (h *logRecorder) all() []string { return h.matching("") }
