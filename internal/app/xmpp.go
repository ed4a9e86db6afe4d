package app

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/presenced/presenced/internal/backend"
	xmppbackend "github.com/presenced/presenced/internal/backend/xmpp"
	"github.com/presenced/presenced/internal/certs"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/xmpp/account"
	"github.com/presenced/presenced/internal/xmpp/component"
)

// newXMPPBackend builds the XMPP connector from backend.xmpp: one link per
// cluster, a component or the cluster's accounts. Errors name the cluster
// and key at fault.
func newXMPPBackend(cfg config.Config, o backendOptions) (backend.Backend, error) {
	x := cfg.Backend.XMPP
	var clusters []xmppbackend.ClusterConfig
	for i, c := range x.Clusters {
		key := fmt.Sprintf("backend.xmpp.clusters[%d]", i+1)
		tlsCfg, err := xmppTLS(c, key)
		if err != nil {
			return nil, err
		}
		cc := xmppbackend.ClusterConfig{
			Cluster: xmppbackend.Cluster{Name: c.Name, Domains: c.Domains, XMPPDomain: c.XMPPDomain},
			// Prosody sends every online user's presence when a
			// privileged component connects; ejabberd does not.
			InitialPresence: x.Mode == config.XMPPComponent && !c.NoInitialPresence,
		}
		log := o.log.With("cluster", c.Name)
		switch x.Mode {
		case config.XMPPComponent:
			secret, err := config.Secret(c.Secret, c.SecretFile, key+".secret_file")
			if err != nil {
				return nil, err
			}
			domain := c.XMPPDomain
			if domain == "" && len(c.Domains) > 0 {
				domain = c.Domains[0]
			}
			cc.Link = xmppbackend.NewComponentLink(component.Config{
				Addr: c.Server, JID: c.Component, Secret: secret, TLS: tlsCfg, Domain: domain,
				KeepAlive: x.KeepAlive, Clock: o.clk, Logger: log,
			})
		case config.XMPPAccounts:
			password, err := config.Secret(c.Password, c.PasswordFile, key+".password_file")
			if err != nil {
				return nil, err
			}
			var accounts []account.Config
			for _, a := range c.Accounts {
				accounts = append(accounts, account.Config{
					Addr: c.Server, JID: a, Password: password, TLS: tlsCfg, DirectTLS: c.TLS == "direct",
					KeepAlive: x.KeepAlive, Clock: o.clk, Logger: log.With("account", a),
				})
			}
			cc.Link = xmppbackend.NewAccountsLink(accounts)
		}
		clusters = append(clusters, cc)
	}
	b, err := xmppbackend.New(xmppbackend.Config{Clusters: clusters, Resolve: o.resolve, Registry: o.reg, Clock: o.clk,
		Logger: o.log.With("component", "backend", "backend", "xmpp")})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// xmppTLS is a cluster's TLS client configuration, or nil for tls: none
// (a component on a trusted network).
func xmppTLS(c config.XMPPCluster, key string) (*tls.Config, error) {
	if c.TLS == "none" {
		return nil, nil
	}
	serverName := c.ServerName
	if serverName == "" {
		serverName, _, _ = net.SplitHostPort(c.Server)
	}
	if c.TrustStore == "" {
		return certs.ClientConfig(serverName, nil, nil), nil
	}
	pool, _, err := certs.LoadTrustStore(c.TrustStore)
	if err != nil {
		return nil, fmt.Errorf("%s.trust_store: %w", key, err)
	}
	return certs.ClientConfig(serverName, pool, nil), nil
}

// defaultComponentEndpoints is how many pool endpoints a component counts
// as when component_endpoints is 0.
const defaultComponentEndpoints = 10

// xmppEndpoints are the endpoint identities of the XMPP connector: every
// account in order (accounts mode), or for each cluster's component its
// component_endpoints pool slots, <component>#1, <component>#2, ... (a
// component receives everyone's presence; the slots only size how many
// contacts it may watch).
func xmppEndpoints(x config.XMPPConfig) []string {
	var ids []string
	for _, c := range x.Clusters {
		if x.Mode == config.XMPPAccounts {
			ids = append(ids, c.Accounts...)
			continue
		}
		n := c.ComponentEndpoints
		if n == 0 {
			n = defaultComponentEndpoints
		}
		for i := 1; i <= n; i++ {
			ids = append(ids, fmt.Sprintf("%s#%d", c.Component, i))
		}
	}
	return ids
}
