package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/backend"
	"github.com/presenced/presenced/internal/certs"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/directory"
	"github.com/presenced/presenced/internal/directory/cache"
	"github.com/presenced/presenced/internal/directory/ldap"
	"github.com/presenced/presenced/internal/status"
)

// openDirectory returns the contact directory: the one a test gives, the
// configured LDAP directory behind a cache, or nil without one.
func openDirectory(cfg config.Config, given directory.Directory, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (directory.Directory, error) {
	if given != nil {
		return given, nil
	}
	switch cfg.Directory.Kind {
	case config.DirectoryNone:
		return nil, nil
	case config.DirectoryLDAP:
		return openLDAP(cfg, clk, log, reg)
	}
	return nil, errors.New("directory.kind " + cfg.Directory.Kind + " is unknown")
}

// directoryResolver maps contacts through d for a backend of kind: the
// entry's presence address, not_found for an email nobody has, and
// not_enabled for an entry disabled for presence (or, for SIP, without a
// SIP address). An XMPP entry without an address keeps the clusters' JID
// rule. Without a directory there is no resolver.
func directoryResolver(d directory.Directory, kind string) backend.Resolve {
	if d == nil || kind == config.BackendNative {
		return nil
	}
	return func(ctx context.Context, contact string) (string, status.Reason, error) {
		e, err := d.Lookup(ctx, contact)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			return "", status.NotFound, nil
		case err != nil:
			return "", status.NoReason, err
		case !e.Enabled:
			return "", status.NotEnabled, nil
		case e.Address == "" && kind == config.BackendSIP:
			return "", status.NotEnabled, nil
		}
		return e.Address, status.NoReason, nil
	}
}

// openLDAP builds the LDAP directory of directory.ldap behind a cache; the
// presence address attribute follows the backend kind (SIP or XMPP).
func openLDAP(cfg config.Config, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer) (directory.Directory, error) {
	l := cfg.Directory.LDAP
	password, tlsCfg, err := ldapCredentials(l)
	if err != nil {
		return nil, err
	}
	a := l.Attributes
	address := a.SIPAddress
	if cfg.Backend.Kind == config.BackendXMPP {
		address = a.XMPPAddress
	}
	d, err := ldap.New(ldap.Config{
		URLs: []string{l.URL}, Source: l.Source, Domain: l.Domain, StartTLS: l.StartTLS, TLS: tlsCfg,
		BindDN: l.BindDN, BindPassword: password, ObjectFilter: l.Filter,
		PoolSize: l.PoolSize, Timeout: l.Timeout, MaxSearch: l.MaxResults,
		Attributes: ldap.Attributes{
			Mail: a.Mail, ProxyAddresses: a.ProxyAddresses, DisplayName: a.DisplayName, GivenName: a.GivenName,
			SN: a.SN, Title: a.Title, TelephoneNumber: a.TelephoneNumber, Mobile: a.Mobile,
			SAMAccountName: a.SAMAccountName, Address: address, Enabled: a.Enabled,
		},
		Registry: reg, Logger: log.With("component", "directory"), Clock: clk,
	})
	if err != nil {
		return nil, fmt.Errorf("directory.ldap: %w", err)
	}
	return cache.New(d, cache.Config{
		TTL: cacheTTL(l.PositiveTTL), NegativeTTL: cacheTTL(l.NegativeTTL), Clock: clk, Registerer: reg,
	}), nil
}

// ldapCredentials reads the bind password (or its file) and the trust
// store of directory.ldap. Errors name the key at fault.
func ldapCredentials(l config.LDAPConfig) (string, *tls.Config, error) {
	password, err := config.Secret(l.BindPassword, l.BindPasswordFile, "directory.ldap.bind_password_file")
	if err != nil {
		return "", nil, err
	}
	var tlsCfg *tls.Config
	if l.TrustStore != "" || l.ServerName != "" {
		var pool *x509.CertPool
		if l.TrustStore != "" {
			if pool, _, err = certs.LoadTrustStore(l.TrustStore); err != nil {
				return "", nil, fmt.Errorf("directory.ldap.trust_store: %w", err)
			}
		}
		tlsCfg = certs.ClientConfig(l.ServerName, pool, nil)
	}
	return password, tlsCfg, nil
}

// cacheTTL maps a configured TTL to the cache's: 0 (no caching) is the
// cache's negative.
func cacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
