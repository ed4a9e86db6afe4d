// Package certs loads the TLS material of the backend connectors: a client
// certificate picked by friendly name from a PKCS#12 file, and a trust store
// read from a directory of PEM or DER certificates.
//
// PKCS#12 files may come from OpenSSL 3 (PBES2/AES-256, SHA-256 MAC), from
// OpenSSL with -legacy (3DES, SHA-1 MAC) or from keytool -storetype PKCS12.
// The private key is chosen by its friendly name (the -name of openssl
// pkcs12 -export, the -alias of keytool), compared exactly, and its
// certificate by localKeyId, never by position.
//
// Every input is bounded: files larger than [MaxFileSize] and directories with
// more than [MaxFiles] candidate files are refused. Passwords never appear in
// errors.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
)

// Sentinel errors, matched with errors.Is. The returned errors wrap them with
// the file and, for ErrNoSuchName, the friendly names that were found.
// ErrNoCertificates and ErrTooLarge appear inside longer messages, hence no
// "certs:" prefix.
var (
	// ErrPassword means the PKCS#12 password is wrong: the file's MAC did not
	// verify.
	ErrPassword = errors.New("certs: wrong password")
	// ErrNoSuchName means no entry in the PKCS#12 file has the friendly name.
	ErrNoSuchName = errors.New("certs: no certificate named")
	// ErrNoPrivateKey means the friendly name belongs to a certificate
	// without a private key (a CA or trusted certificate).
	ErrNoPrivateKey = errors.New("certs: no private key")
	// ErrUnsupported means the file is valid but the PKCS#12 library cannot
	// decode the requested entry (see [LoadClientCertificate]).
	ErrUnsupported = errors.New("certs: unsupported PKCS#12 file")
	// ErrNoCertificates means a trust store holds no certificate.
	ErrNoCertificates = errors.New("no certificates")
	// ErrTooLarge means an input exceeds [MaxFileSize] or [MaxFiles].
	ErrTooLarge = errors.New("too large")
)

// Input bounds. The files are provided by administrators, but a wrong path
// (a log file, /usr/share) should fail fast rather than fill memory.
const (
	// MaxFileSize is the largest PKCS#12, PEM or DER file read.
	MaxFileSize = 1 << 20
	// MaxFiles is the largest number of files read from a trust store
	// directory.
	MaxFiles = 1000
)

// ClientConfig returns a client TLS configuration for serverName that accepts
// TLS 1.2 and later, verifies the server against roots (nil means the system
// roots) and presents cert when it is not nil.
func ClientConfig(serverName string, roots *x509.CertPool, cert *tls.Certificate) *tls.Config {
	c := &tls.Config{
		ServerName: serverName,
		RootCAs:    roots,
		MinVersion: tls.VersionTLS12,
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// readFile reads the file at path, refusing files larger than MaxFileSize.
// Errors from the os package already name the path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w (limit %d bytes)", path, ErrTooLarge, MaxFileSize)
	}
	return data, nil
}
