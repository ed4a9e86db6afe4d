package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/presenced/presenced/internal/directory"
)

// errClosed is returned after Close.
var errClosed = errors.New("directory closed")

// pool holds at most size bound connections. go-ldap has neither a pool
// nor contexts: the pool bounds every dial and bind by the caller's
// deadline and closes a connection whose context ends mid-operation.
type pool struct {
	cfg     Config
	servers []Server
	sem     chan struct{} // one token per open or opening connection
	m       metrics
	log     *slog.Logger

	// mu guards the fields below.
	mu     sync.Mutex
	idle   []*goldap.Conn // most recently used last
	closed bool
}

func newPool(cfg Config, servers []Server, m metrics, log *slog.Logger) *pool {
	return &pool{cfg: cfg, servers: servers, sem: make(chan struct{}, cfg.PoolSize), m: m, log: log}
}

// get returns an idle connection, or a new bound one when none is idle,
// waiting for a free slot until ctx ends. reused reports whether the
// connection was idle in the pool (and so may have been closed by the
// server meanwhile). Errors wrap directory.ErrUnavailable.
func (p *pool) get(ctx context.Context) (c *goldap.Conn, reused bool, err error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%w: ldap: waiting for a connection: %w", directory.ErrUnavailable, ctx.Err())
	}
	for {
		c, ok := p.popIdle()
		if !ok {
			break
		}
		if !c.IsClosing() {
			return c, true, nil
		}
		// The server closed it while idle (restart, idle timeout).
		p.discard(c)
		p.m.redials.Inc()
		p.log.Info("idle connection was closed by the server; re-dialling")
	}
	c, err = p.dial(ctx)
	if err != nil {
		<-p.sem
		return nil, false, err
	}
	p.m.connections.Inc()
	return c, false, nil
}

// popIdle takes the most recently used idle connection.
func (p *pool) popIdle() (*goldap.Conn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) == 0 {
		return nil, false
	}
	c := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	return c, true
}

// put returns c to the pool, or closes it when it is broken or the pool
// is closed, and frees its slot.
func (p *pool) put(c *goldap.Conn, broken bool) {
	defer func() { <-p.sem }()
	if !broken && !c.IsClosing() {
		p.mu.Lock()
		if !p.closed && len(p.idle) < cap(p.sem) {
			p.idle = append(p.idle, c)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	p.discard(c)
}

// discard closes c, which holds no slot in the idle list.
func (p *pool) discard(c *goldap.Conn) {
	c.Close()
	p.m.connections.Dec()
}

// close closes the idle connections; connections in use are closed when
// they are put back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
}

// dial connects to the first server that answers and binds.
func (p *pool) dial(ctx context.Context) (*goldap.Conn, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: ldap: %w", directory.ErrUnavailable, errClosed)
	}
	var errs dialErrors
	for _, srv := range p.servers {
		c, err := p.dialServer(ctx, srv, p.cfg.BindDN, p.cfg.BindPassword)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", directory.ErrUnavailable, errs)
}

// dialErrors are the failures of one dial, one per server tried.
type dialErrors []error

func (e dialErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e dialErrors) Unwrap() []error { return e }

// bindAs checks password for dn with a simple bind on a connection of its
// own, dialled like a pooled one (first server that answers, StartTLS when
// configured) but never put in the idle list, and closed before it
// returns: a bind changes a connection's identity, and pooled connections
// must keep the service account's. It takes a pool slot while open, so
// PoolSize still bounds the connections. A server answering
// invalidCredentials (49: a wrong password, or in AD a locked, disabled
// or expired account) ends the attempt, since trying the next server would
// count one more failed logon against the account: that error wraps
// go-ldap's *ldap.Error with code 49 and not directory.ErrUnavailable. An
// empty password is refused without dialling (it would be an
// unauthenticated bind, which succeeds). Every other failure wraps
// directory.ErrUnavailable. The caller must hold no pooled connection
// meanwhile: with PoolSize 1 it would wait for its own slot.
func (p *pool) bindAs(ctx context.Context, dn, password string) error {
	if password == "" {
		return errors.New("ldap: empty password")
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: ldap: waiting for a connection: %w", directory.ErrUnavailable, ctx.Err())
	}
	defer func() { <-p.sem }()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return fmt.Errorf("%w: ldap: %w", directory.ErrUnavailable, errClosed)
	}
	var errs dialErrors
	for _, srv := range p.servers {
		c, err := p.dialServer(ctx, srv, dn, password)
		if err == nil {
			c.Close()
			return nil
		}
		if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			return err // the server checked the password
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: %w", directory.ErrUnavailable, errs)
}

// dialServer connects to srv, upgrades with StartTLS when configured and
// binds as dn with password (no bind when dn is empty: anonymous), all
// before ctx's deadline: the raw connection's deadline bounds the TLS
// handshakes too, which go-ldap's own timeout does not.
func (p *pool) dialServer(ctx context.Context, srv Server, dn, password string) (*goldap.Conn, error) {
	tlsCfg := p.tlsConfig(srv)
	nd := &net.Dialer{}
	var raw net.Conn
	var err error
	if srv.TLS {
		raw, err = (&tls.Dialer{NetDialer: nd, Config: tlsCfg}).DialContext(ctx, "tcp", srv.Addr)
	} else {
		raw, err = nd.DialContext(ctx, "tcp", srv.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("ldap dial %s: %w", srv.URL, ctxErr(ctx, err))
	}
	deadline, _ := ctx.Deadline() // do always sets one
	if err := raw.SetDeadline(deadline); err != nil {
		raw.Close()
		return nil, fmt.Errorf("ldap dial %s: %w", srv.URL, err)
	}
	c := goldap.NewConn(raw, srv.TLS)
	c.Start()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetTimeout(time.Until(deadline))
	if p.cfg.StartTLS {
		if err := c.StartTLS(tlsCfg); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap StartTLS with %s: %w", srv.URL, ctxErr(ctx, err))
		}
	}
	if dn != "" {
		// go-ldap's errors hold the server's result, never the password.
		if err := c.Bind(dn, password); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap bind to %s as %q: %w", srv.URL, dn, ctxErr(ctx, err))
		}
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("ldap dial %s: %w", srv.URL, err)
	}
	return c, nil
}

// tlsConfig returns the TLS configuration for srv.
func (p *pool) tlsConfig(srv Server) *tls.Config {
	var cfg *tls.Config
	if p.cfg.TLS != nil {
		cfg = p.cfg.TLS.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = srv.Host
	}
	return cfg
}

// ctxErr returns ctx's error in place of err when ctx has ended or its
// deadline has passed, since a closed connection or an i/o timeout is then
// the effect, not the cause.
func ctxErr(ctx context.Context, err error) error {
	cause := ctx.Err()
	if deadline, ok := ctx.Deadline(); cause == nil && ok && !time.Now().Before(deadline) {
		cause = context.DeadlineExceeded
	}
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w (%v)", cause, err)
}
