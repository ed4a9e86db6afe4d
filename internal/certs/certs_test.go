package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/certs"
)

// picked is what a test checks of a loaded certificate.
type picked struct {
	CN    string   // of Leaf
	Chain []string // CNs of Certificate, leaf first
}

func summarize(t *testing.T, c tls.Certificate) picked {
	t.Helper()
	if c.Leaf == nil {
		t.Fatal("Leaf is nil")
	}
	p := picked{CN: c.Leaf.Subject.CommonName}
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		p.Chain = append(p.Chain, x.Subject.CommonName)
	}
	if string(c.Certificate[0]) != string(c.Leaf.Raw) {
		t.Error("Certificate[0] is not Leaf")
	}
	// tls.X509KeyPair refuses a key that does not match the certificate.
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("key does not match the leaf: %v", err)
	}
	return p
}

func TestLoadClientCertificate(t *testing.T) {
	dir := material(t)
	full := []string{"presence-gw", "Test Intermediate CA", "Test Root CA"}
	tests := []struct {
		name, file, friendly string
		want                 picked
		password             string // if not the default
	}{
		{"OpenSSL 3", "openssl3.p12", "presence-gw", picked{"presence-gw", full}, ""},
		{"OpenSSL legacy", "legacy.p12", "presence-gw", picked{"presence-gw", full}, ""},
		{"keytool with trusted CA", "keytool.p12", "presence-gw", picked{"presence-gw-kt", []string{"presence-gw-kt", "Test Root CA"}}, ""},
		{"two keys, first", "twokeys.p12", "alpha", picked{"alpha", []string{"alpha"}}, ""},
		{"two keys, second", "twokeys.p12", "beta", picked{"beta", []string{"beta"}}, ""},
		{"non-ASCII password", "unicode.p12", "presence-gw", picked{"presence-gw", []string{"presence-gw"}}, unicodePassword},
		{"non-ASCII password legacy", "unicode-legacy.p12", "presence-gw", picked{"presence-gw", []string{"presence-gw"}}, unicodePassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pass := password
			if tt.password != "" {
				pass = tt.password
			}
			c, err := certs.LoadClientCertificate(filepath.Join(dir, tt.file), pass, tt.friendly)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(t, c)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadClientCertificateErrors(t *testing.T) {
	dir := material(t)
	tests := []struct {
		name, file, password, friendly string
		want                           error
		message                        string // if set, the whole message without dir
		prefix                         string // if set, how the message starts
	}{
		{
			name: "wrong case", file: "openssl3.p12", password: password, friendly: "Presence-GW",
			want:    certs.ErrNoSuchName,
			message: `certs: no certificate named "Presence-GW" in openssl3.p12 (found "intermediate", "presence-gw", "root")`,
		},
		{
			name: "keytool wrong name", file: "keytool.p12", password: password, friendly: "presence",
			want:    certs.ErrNoSuchName,
			message: `certs: no certificate named "presence" in keytool.p12 (found "presence-gw")`,
		},
		{
			name: "CA name", file: "openssl3.p12", password: password, friendly: "root",
			want:    certs.ErrNoPrivateKey,
			message: `certs: no private key for "root" in openssl3.p12: it names a certificate only`,
		},
		{
			name: "wrong password", file: "openssl3.p12", password: "s3cret pässwort", friendly: "presence-gw",
			want:    certs.ErrPassword,
			message: `certs: wrong password for openssl3.p12 (PKCS#12 MAC check failed)`,
		},
		{name: "wrong password legacy", file: "legacy.p12", password: "", friendly: "presence-gw", want: certs.ErrPassword},
		{name: "wrong password keytool", file: "keytool.p12", password: "x", friendly: "presence-gw", want: certs.ErrPassword},
		{name: "missing file", file: "missing.p12", password: password, friendly: "presence-gw", want: fs.ErrNotExist},
		{
			name: "not PKCS#12", file: "root.pem", password: password, friendly: "presence-gw",
			prefix: "certs: decode PKCS#12 root.pem: pkcs12: error reading P12 data: asn1: ",
		},
		{
			name: "two keys and trusted CA", file: "twokeys-ca.p12", password: password, friendly: "alpha",
			want: certs.ErrUnsupported,
			message: `certs: unsupported PKCS#12 file twokeys-ca.p12: cannot decode "alpha": 2 private keys and an entry go-pkcs12 ` +
				`cannot convert (pkcs12: unknown attribute with OID 2.16.840.1.113894.746875.1.1); keep one private key per file`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := certs.LoadClientCertificate(filepath.Join(dir, tt.file), tt.password, tt.friendly)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %q", err, tt.want)
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if tt.message != "" && msg != tt.message {
				t.Errorf("message\n got %s\nwant %s", msg, tt.message)
			}
			if !strings.HasPrefix(msg, tt.prefix) {
				t.Errorf("message\n got %s\nwant prefix %s", msg, tt.prefix)
			}
			if strings.Contains(msg, password) || tt.password != "" && strings.Contains(msg, tt.password) {
				t.Errorf("message %q contains the password", msg)
			}
		})
	}
}

func TestFriendlyNames(t *testing.T) {
	dir := material(t)
	tests := []struct {
		file string
		want []string
	}{
		{"openssl3.p12", []string{"intermediate", "presence-gw", "root"}},
		{"legacy.p12", []string{"intermediate", "presence-gw", "root"}},
		{"twokeys.p12", []string{"alpha", "beta"}},
		// The fallback decoder sees only the keys' names.
		{"keytool.p12", []string{"presence-gw"}},
		{"twokeys-ca.p12", []string{"alpha", "beta"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := certs.FriendlyNames(filepath.Join(dir, tt.file), password)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := certs.FriendlyNames(filepath.Join(dir, "openssl3.p12"), "wrong"); !errors.Is(err, certs.ErrPassword) {
		t.Errorf("wrong password: got %v, want ErrPassword", err)
	}
}

func TestClientConfig(t *testing.T) {
	pool := x509.NewCertPool()
	cert := &tls.Certificate{Certificate: [][]byte{{1}}}
	c := certs.ClientConfig("sip.example.com", pool, cert)
	got := struct {
		ServerName   string
		MinVersion   uint16
		SameRoots    bool
		Certificates int
	}{c.ServerName, c.MinVersion, c.RootCAs == pool, len(c.Certificates)}
	want := got
	want.ServerName, want.MinVersion, want.SameRoots, want.Certificates = "sip.example.com", tls.VersionTLS12, true, 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if c := certs.ClientConfig("x", nil, nil); c.RootCAs != nil || c.Certificates != nil {
		t.Errorf("nil roots and cert: got RootCAs %v, Certificates %v", c.RootCAs, c.Certificates)
	}
}

// TestHandshake runs a real mutual TLS handshake on loopback: the server
// trusts only the test root, so the client must present its intermediate.
func TestHandshake(t *testing.T) {
	dir := material(t)
	roots, _, err := certs.LoadTrustStore(filepath.Join(dir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	otherRoots, _, err := certs.LoadTrustStore(filepath.Join(dir, "other.pem"))
	if err != nil {
		t.Fatal(err)
	}
	load := func(file string) *tls.Certificate {
		c, err := certs.LoadClientCertificate(filepath.Join(dir, file), password, "presence-gw")
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}
	rogue := load("rogue.p12")
	// force sends rogue even though the server's CertificateRequest does
	// not list its CA (a Go client withholds such a certificate).
	force := certs.ClientConfig("localhost", roots, nil)
	force.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return rogue, nil }
	tests := []struct {
		name      string
		client    *tls.Config
		serverErr string // "" for success
	}{
		{"OpenSSL 3 client", certs.ClientConfig("localhost", roots, load("openssl3.p12")), ""},
		{"keytool client", certs.ClientConfig("localhost", roots, load("keytool.p12")), ""},
		{"client of another CA", certs.ClientConfig("localhost", roots, rogue), "tls: client didn't provide a certificate"},
		{"client of another CA, sent anyway", force, "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"no client certificate", certs.ClientConfig("localhost", roots, nil), "tls: client didn't provide a certificate"},
		{"server not trusted", certs.ClientConfig("localhost", otherRoots, load("openssl3.p12")), "remote error: tls: bad certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientErr, serverErr := handshake(t, dir, roots, tt.client)
			if tt.serverErr == "" {
				if clientErr != nil || serverErr != nil {
					t.Fatalf("handshake failed: client %v, server %v", clientErr, serverErr)
				}
				return
			}
			if clientErr == nil || serverErr == nil || serverErr.Error() != tt.serverErr {
				t.Fatalf("got client error %v, server error %v; want both, server %q", clientErr, serverErr, tt.serverErr)
			}
		})
	}
}

// handshake serves one connection that requires a client certificate from
// clientCAs and writes "ok" after the handshake; the client reads it.
func handshake(t *testing.T, dir string, clientCAs *x509.CertPool, client *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    clientCAs,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The deadline only guards against a hang; no result depends on it.
	deadline := time.Now().Add(30 * time.Second)
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(deadline)
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		_, err = io.WriteString(tc, "ok")
		done <- err
	}()
	clientErr = func() error {
		conn, err := tls.Dial("tcp", ln.Addr().String(), client)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(deadline)
		// With TLS 1.3 the server's verdict on the client certificate
		// arrives after the client's handshake, so read the reply.
		b, err := io.ReadAll(conn)
		if err == nil && string(b) != "ok" {
			err = errors.New("server sent " + string(b))
		}
		return err
	}()
	return clientErr, <-done
}

func TestLoadTrustStore(t *testing.T) {
	src := material(t)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	root, other, inter, interDER := read("root.pem"), read("other.pem"), read("inter.pem"), read("inter.der")
	key := read("root.key")
	good := map[string][]byte{
		"bundle.pem":      append(append(append([]byte("Test bundle\n"), root...), key...), other...),
		"inter.der":       interDER,
		".hidden":         []byte("not a certificate"),
		"sub/garbage.txt": []byte("not a certificate"),
	}
	with := func(base map[string][]byte, name string, content []byte) map[string][]byte {
		m := map[string][]byte{name: content}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	big := make([]byte, certs.MaxFileSize+1)
	tests := []struct {
		name    string
		files   map[string][]byte
		path    string // inside the directory; "" for the directory
		want    []string
		wantErr error
		errHas  string
	}{
		{name: "PEM bundle and DER", files: good, want: []string{"Test Root CA", "Other CA", "Test Intermediate CA"}},
		{name: "README", files: with(good, "README.txt", []byte("Put the CA certificates here.\n")), errHas: "README.txt"},
		{name: "single file", files: good, path: "bundle.pem", want: []string{"Test Root CA", "Other CA"}},
		{name: "duplicates", files: map[string][]byte{"a.pem": root, "b.pem": append(inter, root...)}, want: []string{"Test Root CA", "Test Intermediate CA"}},
		{name: "PEM without certificate", files: map[string][]byte{"a.pem": root, "key.pem": key}, wantErr: certs.ErrNoCertificates, errHas: "key.pem"},
		{name: "empty", files: map[string][]byte{}, wantErr: certs.ErrNoCertificates},
		{name: "only hidden", files: map[string][]byte{".root.pem": root}, wantErr: certs.ErrNoCertificates},
		{name: "file too large", files: map[string][]byte{"big.der": big}, wantErr: certs.ErrTooLarge, errHas: "big.der"},
		{name: "too many files", files: manyFiles(certs.MaxFiles+1, root), wantErr: certs.ErrTooLarge},
		{name: "missing", files: map[string][]byte{}, path: "nope", wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			pool, list, err := certs.LoadTrustStore(filepath.Join(dir, tt.path))
			if tt.want == nil {
				if err == nil {
					t.Fatal("no error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %q is not %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error %q does not name %s", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range list {
				got = append(got, c.Subject.CommonName)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("certificates (-want +got):\n%s", diff)
			}
			for _, c := range list {
				if _, err := c.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
					t.Errorf("%s not trusted by the pool: %v", c.Subject.CommonName, err)
				}
			}
		})
	}
}

func TestLoadTrustStoreSymlink(t *testing.T) {
	src := material(t)
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(src, "root.pem"), filepath.Join(dir, "5e1a2b3c.0")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(dir, "linked-dir")); err != nil {
		t.Fatal(err)
	}
	_, list, err := certs.LoadTrustStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Subject.CommonName != "Test Root CA" {
		t.Errorf("got %d certificates, want Test Root CA only", len(list))
	}
}

func manyFiles(n int, content []byte) map[string][]byte {
	m := make(map[string][]byte, n)
	for i := range n {
		m[fmt.Sprintf("c%04d.pem", i)] = content
	}
	return m
}
