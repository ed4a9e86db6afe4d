package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// Cert is a throwaway certificate and its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Issue creates a certificate from tmpl for a fresh P-256 key, signed by
// parent, or self-signed when parent is nil. A nil tmpl.SerialNumber is
// replaced by a random one.
func Issue(tmpl *x509.Certificate, parent *Cert) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testserver: generate key: %w", err)
	}
	if tmpl.SerialNumber == nil {
		if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)); err != nil {
			return nil, fmt.Errorf("testserver: serial: %w", err)
		}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("testserver: create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testserver: parse certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return &Cert{Cert: cert, Key: key}, nil
}

// SelfSigned returns a server certificate for the DNS names (the first is
// also the common name) and 127.0.0.1, valid from an hour ago for a day.
// It is its own CA, so a pool holding it (Pool) verifies the server.
func SelfSigned(names ...string) (*Cert, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("testserver: self-signed certificate needs a name")
	}
	return Issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}, nil)
}

// CertPEM returns the certificate as one PEM block.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM returns the private key as one PKCS#8 PEM block.
func (c *Cert) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf("testserver: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteFiles writes CertPEM to certFile (mode 0644) and KeyPEM to keyFile
// (mode 0600).
func (c *Cert) WriteFiles(certFile, keyFile string) error {
	key, err := c.KeyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, c.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("testserver: write certificate: %w", err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return fmt.Errorf("testserver: write key: %w", err)
	}
	return nil
}

// Pool returns a new pool holding the certificate, for
// tls.Config.RootCAs.
func (c *Cert) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}
