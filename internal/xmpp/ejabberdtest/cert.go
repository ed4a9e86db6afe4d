package ejabberdtest

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/presenced/presenced/internal/testserver"
)

// writeCert writes to path, as ejabberd's certfiles want, one PEM file
// with a fresh private key (PKCS#8) followed by a self-signed certificate
// for dnsNames and 127.0.0.1, valid for a day. It returns a pool holding
// the certificate.
func writeCert(path string, dnsNames []string) (*x509.CertPool, error) {
	c, err := testserver.SelfSigned(dnsNames...)
	if err != nil {
		return nil, err
	}
	key, err := c.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, append(key, c.CertPEM()...), 0o600); err != nil {
		return nil, fmt.Errorf("ejabberdtest: write certificate: %w", err)
	}
	return c.Pool(), nil
}
