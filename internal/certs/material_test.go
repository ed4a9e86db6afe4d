package certs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The test material is made once per package run by the real tools, in
// materialDir, which TestMain removes.
var (
	materialDir  string
	materialOnce sync.Once
	materialErr  error
)

// password is used for every PKCS#12 file. keytool refuses non-ASCII
// passwords; unicode.p12 has one.
const (
	password        = "s3cret password"
	unicodePassword = "pässwörd €"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "certs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	materialDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// material returns the directory with the generated files, making them on
// the first call:
//
//	root.pem/.key     CN=Test Root CA (self-signed)
//	inter.pem/.der    CN=Test Intermediate CA, signed by root
//	client.pem/.key   CN=presence-gw, RSA, signed by inter
//	server.pem/.key   CN=localhost (DNS:localhost, IP:127.0.0.1), signed by root
//	other.pem         CN=Other CA (self-signed); rogue.p12 holds CN=presence-gw signed by it
//	openssl3.p12      OpenSSL 3 defaults: presence-gw + CAs named "intermediate" and "root"
//	legacy.p12        the same with -legacy
//	unicode.p12       presence-gw alone, password unicodePassword; unicode-legacy.p12 with -legacy
//	keytool.p12       keytool: presence-gw (EC, CN=presence-gw-kt, signed by root) + trusted "ca"
//	twokeys.p12       keytool: "alpha" and "beta", self-signed
//	twokeys-ca.p12    twokeys.p12 plus trusted "ca"
func material(t *testing.T) string {
	t.Helper()
	materialOnce.Do(func() { materialErr = makeMaterial(materialDir) })
	if materialErr != nil {
		t.Fatalf("making test material: %v", materialErr)
	}
	return materialDir
}

func makeMaterial(dir string) error {
	for _, tool := range []struct{ name, pkg string }{{"openssl", "openssl"}, {"keytool", "openjdk-17-jre-headless"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			return fmt.Errorf("%s is required: install the Debian package %s (scripts/test.sh does): %w", tool.name, tool.pkg, err)
		}
	}
	files := map[string]string{
		"ca.ext":     "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
		"client.ext": "extendedKeyUsage=clientAuth\n",
		"server.ext": "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	pass := "pass:" + password
	req := func(args ...string) []string {
		return cat([]string{"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}, args...)
	}
	steps := [][]string{
		// CAs and certificates.
		req("-x509", "-keyout", "root.key", "-out", "root.pem", "-days", "2", "-subj", "/CN=Test Root CA"),
		req("-x509", "-keyout", "other.key", "-out", "other.pem", "-days", "2", "-subj", "/CN=Other CA"),
		req("-keyout", "inter.key", "-out", "inter.csr", "-subj", "/CN=Test Intermediate CA"),
		sign("inter", "root", "ca.ext"),
		{"openssl", "x509", "-in", "inter.pem", "-outform", "DER", "-out", "inter.der"},
		{"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=presence-gw"},
		sign("client", "inter", "client.ext"),
		req("-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"),
		sign("server", "root", "server.ext"),
		req("-keyout", "rogue.key", "-out", "rogue.csr", "-subj", "/CN=presence-gw"),
		sign("rogue", "other", "client.ext"),
		// OpenSSL PKCS#12 files.
		{"sh", "-c", "cat inter.pem root.pem > chain.pem"},
		{"openssl", "pkcs12", "-export", "-name", "presence-gw", "-inkey", "client.key", "-in", "client.pem",
			"-certfile", "chain.pem", "-caname", "intermediate", "-caname", "root", "-passout", pass, "-out", "openssl3.p12"},
		{"openssl", "pkcs12", "-export", "-legacy", "-name", "presence-gw", "-inkey", "client.key", "-in", "client.pem",
			"-certfile", "chain.pem", "-caname", "intermediate", "-caname", "root", "-passout", pass, "-out", "legacy.p12"},
		{"openssl", "pkcs12", "-export", "-name", "presence-gw", "-inkey", "client.key", "-in", "client.pem",
			"-passout", "pass:" + unicodePassword, "-out", "unicode.p12"},
		{"openssl", "pkcs12", "-export", "-legacy", "-name", "presence-gw", "-inkey", "client.key", "-in", "client.pem",
			"-passout", "pass:" + unicodePassword, "-out", "unicode-legacy.p12"},
		{"openssl", "pkcs12", "-export", "-name", "presence-gw", "-inkey", "rogue.key", "-in", "rogue.pem",
			"-certfile", "other.pem", "-passout", pass, "-out", "rogue.p12"},
		// keytool: key made by keytool, certificate signed by the root.
		keytool("-genkeypair", "-alias", "presence-gw", "-keyalg", "EC", "-groupname", "secp256r1",
			"-dname", "CN=presence-gw-kt", "-validity", "2", "-keystore", "keytool.p12"),
		keytool("-certreq", "-alias", "presence-gw", "-keystore", "keytool.p12", "-file", "kt.csr"),
		sign("kt", "root", "client.ext"),
		keytool("-importcert", "-noprompt", "-alias", "ca", "-file", "root.pem", "-keystore", "keytool.p12"),
		keytool("-importcert", "-noprompt", "-alias", "presence-gw", "-file", "kt.pem", "-keystore", "keytool.p12"),
		// keytool: two keys, then the same with a trusted certificate.
		keytool("-genkeypair", "-alias", "alpha", "-keyalg", "EC", "-groupname", "secp256r1",
			"-dname", "CN=alpha", "-validity", "2", "-keystore", "twokeys.p12"),
		keytool("-genkeypair", "-alias", "beta", "-keyalg", "EC", "-groupname", "secp256r1",
			"-dname", "CN=beta", "-validity", "2", "-keystore", "twokeys.p12"),
		{"cp", "twokeys.p12", "twokeys-ca.p12"},
		keytool("-importcert", "-noprompt", "-alias", "ca", "-file", "root.pem", "-keystore", "twokeys-ca.p12"),
	}
	for _, args := range steps {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// sign signs name.csr with the CA ca into name.pem, adding the extensions
// of ext.
func sign(name, ca, ext string) []string {
	return []string{"openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
		"-CAcreateserial", "-days", "2", "-extfile", ext, "-out", name + ".pem"}
}

func keytool(args ...string) []string {
	return cat([]string{"keytool"}, append(args, "-storetype", "PKCS12", "-storepass", password, "-keypass", password)...)
}

func cat(a []string, more ...string) []string {
	return append(append([]string(nil), a...), more...)
}
