package kamailiotest

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestKamailioTLS starts a second Kamailio with a TLS listener that
// requires and verifies client certificates, and checks that a client with
// a certificate from the CA is answered while one without is refused.
func TestKamailioTLS(t *testing.T) {
	pki := NewPKI(t)
	srv := Start(t, Options{
		TLS:              true,
		TLSCertFile:      pki.ServerCert,
		TLSKeyFile:       pki.ServerKey,
		TLSCAFile:        pki.CAFile,
		TLSVerifyClient:  true,
		TLSRequireClient: true,
	})
	tests := []struct {
		name     string
		withCert bool
		wantOK   bool
	}{
		{name: "client certificate", withCert: true, wantOK: true},
		{name: "no client certificate", withCert: false, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: pki.Pool, ServerName: "127.0.0.1"}
			if tt.withCert {
				cfg.Certificates = []tls.Certificate{pki.Client}
			}
			err := tlsOptions(srv.TLSAddr(), cfg)
			if err != nil {
				t.Logf("refused as: %v", err)
			}
			if diff := cmp.Diff(tt.wantOK, err == nil); diff != "" {
				t.Errorf("OPTIONS over TLS: err %v (-want +got):\n%s\n%s", err, diff, srv.LogTail(10))
			}
		})
	}
}

// tlsOptions sends one OPTIONS over a new TLS connection to addr. With TLS
// 1.3 a refused client certificate shows only on the first read, so the
// whole exchange is the check.
func tlsOptions(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: ioTimeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	return options(conn, "TLS")
}
