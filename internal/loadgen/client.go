package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Bounds of one call.
const (
	requestTimeout   = 60 * time.Second
	handshakeTimeout = 15 * time.Second
	maxAnswerBytes   = 32 << 20
	streamReadBuffer = 1024
	// idleBufferSize is the read and write buffer of an idle stream: it
	// carries pings and the odd event, so a small one keeps 50,000 of
	// them cheap.
	idleBufferSize = 256
)

// idleWritePool lends the idle streams their write buffers only while a
// frame (a pong, the closing frame) is written.
var idleWritePool = &sync.Pool{}

// errRedirect is returned for any redirect: the tool talks to --target and
// --admin only.
var errRedirect = errors.New("redirect refused: presenced bench follows no Location header")

// client talks to the target and admin listeners, and to nothing else: its
// dialer refuses every other address, it uses no proxy and follows no
// redirect.
type client struct {
	target     string // base URL, no trailing slash
	admin      string
	streamURL  string // ws(s)://.../v1/stream
	adminToken string

	http    *http.Client // bounded calls
	streams *http.Client // SSE streams: no overall timeout
	ws      *websocket.Dialer

	allowed map[string]bool // host:port of --target and --admin
	tlsConf *tls.Config     // nil for plain http
}

// newClient builds the client of cfg.
func newClient(cfg Config) *client {
	c := &client{allowed: map[string]bool{hostPort(cfg.Target): true, hostPort(cfg.Admin): true}}
	dial := c.guardedDial(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
	var tlsConf *tls.Config
	if cfg.Target.Scheme == "https" || cfg.Admin.Scheme == "https" {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.roots, InsecureSkipVerify: cfg.InsecureTLS} //nolint:gosec // opt-in flag
	}
	c.tlsConf = tlsConf
	conns := cfg.Concurrency + 16
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          2 * conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		DisableCompression:    true,
		ReadBufferSize:        8 << 10,
		WriteBufferSize:       8 << 10,
	}
	noRedirect := func(*http.Request, []*http.Request) error { return errRedirect }
	ws := *cfg.Target
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[cfg.Target.Scheme]
	c.target, c.admin, c.adminToken = cfg.Target.String(), cfg.Admin.String(), cfg.AdminToken
	c.streamURL = ws.String() + "/v1/stream"
	c.http = &http.Client{Transport: tr, CheckRedirect: noRedirect, Timeout: requestTimeout}
	c.streams = &http.Client{Transport: tr, CheckRedirect: noRedirect}
	c.ws = &websocket.Dialer{
		NetDialContext:   dial,
		Proxy:            nil,
		TLSClientConfig:  tlsConf,
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   streamReadBuffer,
		// The tool writes no data frames; a pool keeps the write
		// buffer from being held per connection.
		WriteBufferPool: &sync.Pool{},
	}
	return c
}

// guardedDial returns d's DialContext refusing every address but
// --target's and --admin's.
func (c *client) guardedDial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !c.allowed[normalizeAddr(addr)] {
			return nil, fmt.Errorf("connection to %s refused: only --target and --admin may be reached", addr)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// idleDialer returns a WebSocket dialer for idle streams leaving from the
// local address src (a port of its own each, so one source holds at most
// the local port range towards one target). Its buffers are small and TCP
// keepalive is off: the server's pings keep the streams alive.
func (c *client) idleDialer(src netip.Addr) *websocket.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	return &websocket.Dialer{
		NetDialContext:   c.guardedDial(d),
		Proxy:            nil,
		TLSClientConfig:  c.tlsConf,
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   idleBufferSize,
		WriteBufferSize:  idleBufferSize,
		WriteBufferPool:  idleWritePool,
	}
}

// dialStream opens token's WebSocket stream with d. A refused upgrade is
// a *callError with the answer's status and code; a failure without an
// answer one with its transport class.
func (c *client) dialStream(ctx context.Context, d *websocket.Dialer, token string) (*websocket.Conn, error) {
	conn, resp, err := d.DialContext(ctx, c.streamURL, http.Header{"Authorization": {"Bearer " + token}})
	if err == nil {
		return conn, nil
	}
	if resp != nil {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("websocket: %w", answerError(resp, raw))
	}
	return nil, fmt.Errorf("websocket: %w", &callError{Class: transportClass(err), Err: err})
}

// close releases idle connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// hostPort is u's host:port, the default port filled in.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func normalizeAddr(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(strings.ToLower(h), p)
}

// callError is a failed call: an HTTP answer other than the expected one
// (Status and, for a problem answer, Code), or a transport failure (Class).
type callError struct {
	Status     int
	Code       string        // problem code, or "http_NNN" without one
	Class      string        // transport error class when Status is 0
	RetryAfter time.Duration // from a 429 or 503
	Detail     string
	Err        error
}

func (e *callError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %v", e.Class, e.Err)
	}
	if e.Detail != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Code)
}

func (e *callError) Unwrap() error { return e.Err }

// call sends method url with bearer token and body (JSON, may be nil) and
// decodes a 2xx JSON answer into out (when not nil). Any other status is
// a *callError; so is a transport failure.
func (c *client) call(ctx context.Context, hc *http.Client, method, url, token string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return &callError{Class: "request", Err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &callError{Class: transportClass(err), Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return &callError{Class: transportClass(err), Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &callError{Status: resp.StatusCode, Code: "bad_answer", Detail: err.Error(), Err: err}
		}
	}
	return nil
}

// answerError turns an unexpected answer into a *callError, reading the
// problem code when there is one.
func answerError(resp *http.Response, raw []byte) *callError {
	e := &callError{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode)}
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(raw, &p) == nil && p.Code != "" && len(p.Code) <= 64 {
		e.Code, e.Detail = p.Code, p.Detail
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(min(s, 60)) * time.Second
	}
	return e
}

// transportClass names the kind of a transport failure, for the error
// counts (bounded: never an address or message).
func transportClass(err error) string {
	var ne net.Error
	var op *net.OpError
	var tlsErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errRedirect):
		return "redirect_refused"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &tlsErr):
		return "tls"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection_refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection_reset"
	case strings.Contains(err.Error(), "only --target and --admin"):
		return "address_refused"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_local_port" // the source address ran out of ports
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too_many_open_files"
	case errors.As(err, &op):
		return "network"
	}
	return "other"
}

// mintToken asks the admin API for a client token of user.
func (c *client) mintToken(ctx context.Context, user string) (string, error) {
	body, _ := json.Marshal(map[string]string{"user": user})
	var out struct {
		Token string `json:"token"`
	}
	if err := c.call(ctx, c.http, http.MethodPost, c.admin+"/v1/admin/tokens", c.adminToken, body, &out); err != nil {
		return "", fmt.Errorf("mint token for %s: %w", user, err)
	}
	if out.Token == "" {
		return "", fmt.Errorf("mint token for %s: answer has no token", user)
	}
	return out.Token, nil
}

// scrape reads the server's /metrics.
func (c *client) scrape(ctx context.Context) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.admin+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	m := Metrics{}
	err = ParseSamples(resp.Body, func(s Sample) {
		m[s.Name] += s.Value
		if s.Name == metricStreamClients && slices.Contains(s.Labels, Label{"transport", TransportWebSocket}) {
			m[metricWebSocketClients] += s.Value
		}
	})
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}

// adminStats reads the admin API's live counts (GET /v1/admin/stats).
func (c *client) adminStats(ctx context.Context) (map[string]float64, error) {
	var out map[string]float64
	if err := c.call(ctx, c.http, http.MethodGet, c.admin+"/v1/admin/stats", c.adminToken, nil, &out); err != nil {
		return nil, fmt.Errorf("admin stats: %w", err)
	}
	return out, nil
}
