package certs

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// LoadClientCertificate reads the PKCS#12 file and returns the private key
// whose friendly name equals friendlyName exactly (case-sensitive), with its
// certificate as Leaf and, after it, the issuer chain found in the file.
//
// The certificate is the one with the key's localKeyId or, when the
// certificates carry none, the one with the key's public key.
//
// Errors wrap [ErrPassword], [ErrNoSuchName] (listing the names found),
// [ErrNoPrivateKey], [ErrUnsupported], [ErrTooLarge] or the os error.
// ErrUnsupported is returned for a file with several private keys and an
// attribute go-pkcs12 cannot convert, such as the trusted-certificate mark
// keytool puts on certificates imported with -importcert: keep one key per
// such file.
func LoadClientCertificate(file, password, friendlyName string) (tls.Certificate, error) {
	s, err := loadStore(file, password)
	if err != nil {
		return tls.Certificate{}, err
	}
	return s.certificate(file, friendlyName)
}

// FriendlyNames returns the sorted, distinct friendly names of the PKCS#12
// file's keys and certificates. For files that need the fallback decoder
// described at [LoadClientCertificate], only the keys' names are visible.
func FriendlyNames(file, password string) ([]string, error) {
	s, err := loadStore(file, password)
	if err != nil {
		return nil, err
	}
	return s.names(), nil
}

// A store is the decoded content of a PKCS#12 file.
type store struct {
	keys  []keyEntry
	certs []certEntry
}

type keyEntry struct {
	name  string
	keyID string // hex; empty if absent
	key   crypto.Signer
	err   error // why key is nil, detail for ErrUnsupported
}

type certEntry struct {
	name  string
	keyID string
	cert  *x509.Certificate
}

func loadStore(file, password string) (*store, error) {
	data, err := readFile(file)
	if err != nil {
		return nil, fmt.Errorf("certs: read PKCS#12: %w", err)
	}
	s, err := decodeStore(data, password)
	if errors.Is(err, ErrPassword) {
		return nil, fmt.Errorf("%w for %s (PKCS#12 MAC check failed)", ErrPassword, file)
	}
	if err != nil {
		return nil, fmt.Errorf("certs: decode PKCS#12 %s: %w", file, err)
	}
	return s, nil
}

func decodeStore(data []byte, password string) (*store, error) {
	// ToPEM is deprecated because its key blocks are mislabelled, but it is
	// the only go-pkcs12 API that exposes friendlyName and localKeyId and
	// accepts files with several keys. parsePrivateKey reads its key bytes.
	//lint:ignore SA1019 the only API exposing friendly names, see above.
	blocks, err := pkcs12.ToPEM(data, password) //nolint:staticcheck // SA1019, see above.
	switch {
	case err == nil:
		return storeFromPEM(blocks)
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return nil, ErrPassword
	}
	// Typically ToPEM verified the MAC and then failed on a bag it cannot
	// convert (keytool's trusted-certificate attribute, an Ed25519 key).
	// The fallback only accepts files ToPEM checked the MAC of.
	s, ferr := decodeFallback(data, password, err)
	switch {
	case errors.Is(ferr, errNotFallback):
		return nil, err
	case ferr != nil:
		return nil, fmt.Errorf("%w (and with DecodeChain: %v)", err, ferr)
	}
	return s, nil
}

func storeFromPEM(blocks []*pem.Block) (*store, error) {
	s := new(store)
	for _, b := range blocks {
		name, id := b.Headers["friendlyName"], normalizeKeyID(b.Headers["localKeyId"])
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate %q: %w", name, err)
			}
			s.certs = append(s.certs, certEntry{name: name, keyID: id, cert: c})
			continue
		}
		k, err := parsePrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key %q: %w", name, err)
		}
		s.keys = append(s.keys, keyEntry{name: name, keyID: id, key: k})
	}
	return s, nil
}

// parsePrivateKey parses the key bytes of a ToPEM block: PKCS#1 or SEC1
// whatever the block type says, or PKCS#8 should a later version switch.
func parsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS#1, SEC1 or PKCS#8 private key")
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return signer, nil
}

// normalizeKeyID folds the spellings of a hex localKeyId ("4c:e9", "4C E9",
// "4ce9") into one. go-pkcs12 v0.7 writes plain lower-case hex.
func normalizeKeyID(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
}

// names returns the sorted distinct friendly names.
func (s *store) names() []string {
	var names []string
	for _, k := range s.keys {
		names = append(names, k.name)
	}
	for _, c := range s.certs {
		names = append(names, c.name)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == "" })
	slices.Sort(names)
	return slices.Compact(names)
}

// certificate returns the key named name with its certificate and chain.
func (s *store) certificate(file, name string) (tls.Certificate, error) {
	k, err := s.key(file, name)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := s.leaf(k)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: %q in %s: %w", name, file, err)
	}
	chain := [][]byte{leaf.Raw}
	for _, c := range s.issuers(leaf) {
		chain = append(chain, c.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: k.key, Leaf: leaf}, nil
}

func (s *store) key(file, name string) (keyEntry, error) {
	var found []keyEntry
	for _, k := range s.keys {
		if k.name == name {
			found = append(found, k)
		}
	}
	switch {
	case len(found) > 1:
		return keyEntry{}, fmt.Errorf("certs: %d private keys named %q in %s", len(found), name, file)
	case len(found) == 1 && found[0].err != nil:
		return keyEntry{}, fmt.Errorf("%w %s: cannot decode %q: %v", ErrUnsupported, file, name, found[0].err)
	case len(found) == 1:
		return found[0], nil
	case slices.Contains(s.names(), name):
		return keyEntry{}, fmt.Errorf("%w for %q in %s: it names a certificate only", ErrNoPrivateKey, name, file)
	}
	quoted := "none"
	if names := s.names(); len(names) > 0 {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = fmt.Sprintf("%q", n)
		}
		quoted = strings.Join(q, ", ")
	}
	return keyEntry{}, fmt.Errorf("%w %q in %s (found %s)", ErrNoSuchName, name, file, quoted)
}

// leaf returns the certificate of k: by localKeyId, else by public key.
func (s *store) leaf(k keyEntry) (*x509.Certificate, error) {
	pub, ok := k.key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("unsupported public key type %T", k.key.Public())
	}
	if k.keyID != "" {
		for _, c := range s.certs {
			if c.keyID != k.keyID {
				continue
			}
			if !pub.Equal(c.cert.PublicKey) {
				return nil, fmt.Errorf("certificate %q with the key's localKeyId has another public key", c.cert.Subject)
			}
			return c.cert, nil
		}
	}
	for _, c := range s.certs {
		if pub.Equal(c.cert.PublicKey) {
			return c.cert, nil
		}
	}
	return nil, fmt.Errorf("%w: no certificate for the private key", ErrNoPrivateKey)
}

// issuers returns the issuer chain of leaf, nearest first, built from the
// other certificates of the store. It stops at a self-signed certificate or
// when no issuer is found.
func (s *store) issuers(leaf *x509.Certificate) []*x509.Certificate {
	var chain []*x509.Certificate
	used := map[string]bool{string(leaf.Raw): true}
	for cur := leaf; !bytes.Equal(cur.RawIssuer, cur.RawSubject); {
		next := s.issuer(cur, used)
		if next == nil {
			break
		}
		used[string(next.Raw)] = true
		chain = append(chain, next)
		cur = next
	}
	return chain
}

func (s *store) issuer(c *x509.Certificate, used map[string]bool) *x509.Certificate {
	for _, e := range s.certs {
		p := e.cert
		if !used[string(p.Raw)] && bytes.Equal(p.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(p) == nil {
			return p
		}
	}
	return nil
}
