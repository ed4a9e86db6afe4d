package kamailiotest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/testserver"
)

// PKI is a throwaway CA with a server certificate for 127.0.0.1,
// localhost, DefaultDomain and sip.DefaultDomain, and a client certificate (CN presence_gw), written as PEM
// files (keys in PKCS#8) for Kamailio and for tools that make PKCS#12
// files from them.
type PKI struct {
	CAFile, ServerCert, ServerKey string
	ClientCert, ClientKey         string
	// Pool holds the CA; Client is the client certificate and key.
	Pool   *x509.CertPool
	Client tls.Certificate
}

// NewPKI creates the CA and certificates in t.TempDir(), valid for a day.
func NewPKI(t testing.TB) PKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := testserver.Issue(&x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kamailiotest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := PKI{Pool: ca.Pool(), CAFile: filepath.Join(dir, "ca.pem")}
	if err := os.WriteFile(p.CAFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, certFile, keyFile string) *testserver.Cert {
		c, err := testserver.Issue(&x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost", DefaultDomain, "sip." + DefaultDomain},
		}, ca)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFiles(certFile, keyFile); err != nil {
			t.Fatal(err)
		}
		return c
	}
	p.ServerCert, p.ServerKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, p.ServerCert, p.ServerKey)

	p.ClientCert, p.ClientKey = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	cli := issue(3, "presence_gw", x509.ExtKeyUsageClientAuth, p.ClientCert, p.ClientKey)
	p.Client = tls.Certificate{Certificate: [][]byte{cli.Cert.Raw}, PrivateKey: cli.Key}
	return p
}
