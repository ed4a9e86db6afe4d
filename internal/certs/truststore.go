package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadTrustStore reads the certificates of a trust store and returns them as
// a pool and as a list, in file name order and then file order, without
// duplicates.
//
// path is a directory or a single file. In a directory every regular file
// (symbolic links followed) is read; subdirectories and names starting with
// "." are skipped. Each file must hold either PEM with at least one
// CERTIFICATE block (other block types are ignored) or one DER certificate;
// any other file is an error naming it, as are more than [MaxFiles] files, a
// file larger than [MaxFileSize] and a store without certificates
// ([ErrNoCertificates]).
func LoadTrustStore(path string) (*x509.CertPool, []*x509.Certificate, error) {
	files, err := trustFiles(path)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: trust store: %w", err)
	}
	pool := x509.NewCertPool()
	var certs []*x509.Certificate
	seen := make(map[string]bool)
	for _, f := range files {
		cs, err := readCertFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("certs: trust store: %w", err)
		}
		for _, c := range cs {
			if !seen[string(c.Raw)] {
				seen[string(c.Raw)] = true
				pool.AddCert(c)
				certs = append(certs, c)
			}
		}
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("certs: trust store %s: %w", path, ErrNoCertificates)
	}
	return pool, certs, nil
}

// trustFiles returns path itself if it is a file, else the candidate files
// in the directory path, sorted by name.
func trustFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := filepath.Join(path, e.Name())
		fi, err := os.Stat(name) // follows links, as in /etc/ssl/certs
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if len(files) == MaxFiles {
			return nil, fmt.Errorf("%s: %w: more than %d files", path, ErrTooLarge, MaxFiles)
		}
		files = append(files, name)
	}
	return files, nil
}

// readCertFile parses the PEM or DER certificates of one file.
func readCertFile(name string) ([]*x509.Certificate, error) {
	data, err := readFile(name)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("%s: neither PEM nor a DER certificate: %w", name, err)
		}
		return []*x509.Certificate{c}, nil
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", name, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: %w: no PEM CERTIFICATE block", name, ErrNoCertificates)
	}
	return certs, nil
}
