package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/certs"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/xmpp/component"
)

// XMPP checks one cluster of backend.xmpp in component mode: "load trust
// store" (unless tls is none), "connect" (TCP, then direct TLS unless tls
// is none), "component handshake" (XEP-0114 with the secret) and
// "privilege advertisement" (XEP-0356 from the user domain, granting the
// presence permission trusted mode needs). The last two run the
// connector's own component client.
func XMPP(ctx context.Context, c config.XMPPCluster) Report {
	r, cancel := newRun(ctx)
	defer cancel()
	secret, err := config.Secret(c.Secret, c.SecretFile, "secret_file")
	r.secret(secret)
	if err != nil {
		r.record("read secret", 0, "", err)
		return r.report
	}
	tlsCfg, t := r.xmppTLS(c)
	if r.failed {
		return r.report
	}
	if !r.step("connect", func() (string, error) { return r.xmppConnect(c.Server, tlsCfg, t) }) {
		return r.report
	}
	r.component(c, secret, tlsCfg)
	return r.report
}

// xmppTLS is the cluster's TLS client configuration as the app builds it
// (nil for tls: none), after the step "load trust store".
func (r *run) xmppTLS(c config.XMPPCluster) (*tls.Config, trust) {
	if c.TLS == "none" {
		return nil, trust{}
	}
	t, ok := r.loadTrust(c.TrustStore)
	if !ok {
		return nil, t
	}
	serverName := c.ServerName
	if serverName == "" {
		serverName, _, _ = net.SplitHostPort(c.Server)
	}
	return certs.ClientConfig(serverName, t.pool, nil), t
}

// xmppConnect opens (and closes) one connection to the component
// listener, so that a refused connection or a failed TLS handshake gets
// its own precise message before the handshake step.
func (r *run) xmppConnect(addr string, cfg *tls.Config, t trust) (string, error) {
	raw, err := r.dial(addr)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	detail := fmt.Sprintf("%s from %s, no TLS", raw.RemoteAddr(), raw.LocalAddr())
	if cfg == nil {
		return detail, nil
	}
	if err := r.deadline(raw); err != nil {
		return "", err
	}
	_, d, err := r.handshake(raw, cfg, t)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s from %s, %s", raw.RemoteAddr(), raw.LocalAddr(), d), nil
}

// component runs the connector's component client until it is
// privileged, fails, or the run's deadline passes, recording the steps
// "component handshake" and "privilege advertisement".
func (r *run) component(c config.XMPPCluster, secret string, tlsCfg *tls.Config) {
	domain := c.XMPPDomain
	if domain == "" && len(c.Domains) > 0 {
		domain = c.Domains[0]
	}
	states := make(chan component.State, 16)
	ctx, cancel := context.WithCancel(r.ctx)
	wait := time.Until(deadlineOf(r.ctx))
	conn, err := component.New(component.Config{
		Addr: c.Server, JID: c.Component, Secret: secret, TLS: tlsCfg, Domain: domain,
		PrivilegeWait: wait * 9 / 10, KeepAlive: -1, RetryBase: time.Hour, RetryMax: time.Hour,
		IOTimeout: wait, Logger: slog.New(slog.DiscardHandler),
		OnState: func(s component.State) {
			select {
			case states <- s:
			default: // the probe reads only the first few states
			}
		},
	})
	if err != nil {
		cancel()
		r.record("component handshake", 0, "", err)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = conn.Run(ctx)
	}()
	defer func() { cancel(); <-done }()

	start := time.Now()
	connected := false
	for {
		var s component.State
		select {
		case s = <-states:
		case <-r.ctx.Done():
			s = component.State{Connected: connected, Err: fmt.Errorf("nothing from %s before the deadline: %w", c.Server, r.ctx.Err())}
		}
		switch {
		case !connected && s.Connected:
			connected = true
			r.record("component handshake", time.Since(start), fmt.Sprintf("accepted as %s by %s", c.Component, c.Server), nil)
			start = time.Now()
		case !connected && s.Err != nil:
			r.record("component handshake", time.Since(start), "", s.Err)
			return
		case s.Privileged:
			r.record("privilege advertisement", time.Since(start), fmt.Sprintf("%s from %s: %s", s.Namespace, domain, perms(s.Perms)), nil)
			return
		default: // any later state is final: a refusal, a timeout or a drop
			r.record("privilege advertisement", time.Since(start), "", privilegeError(s, domain))
			return
		}
	}
}

// privilegeError explains a component that was connected but not
// privileged.
func privilegeError(s component.State, domain string) error {
	switch {
	case s.Perms != nil:
		return s.Err // granted, but not enough; the error lists the grants
	case !s.Connected:
		return fmt.Errorf("the stream ended before any privilege advertisement: %w", s.Err)
	}
	return fmt.Errorf("privilege advertisement missing: %w", s.Err)
}

// perms formats advertised permissions, "presence=roster, roster=both".
func perms(p map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, ", ")
}

// deadlineOf is ctx's deadline (newRun always sets one).
func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
