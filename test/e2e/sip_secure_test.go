package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/dnstest"
	"github.com/presenced/presenced/internal/pidf"
	"github.com/presenced/presenced/internal/sip/kamailiotest"
	"github.com/presenced/presenced/internal/sip/watcher"
	"github.com/presenced/presenced/internal/status"
)

// sipMaterial is what an administrator would import for SIP over TLS:
// the client certificate as PKCS#12 files made by openssl and by keytool,
// their password in a file, and a trust-store directory.
type sipMaterial struct {
	pki                          kamailiotest.PKI
	opensslP12, keytoolP12       string
	passwordFile, trustStore     string
	opensslName, keytoolName     string
	digestPasswordFile, password string
}

func newSIPMaterial(t *testing.T) sipMaterial {
	t.Helper()
	dir := t.TempDir()
	m := sipMaterial{
		pki: kamailiotest.NewPKI(t), password: "p12-Secret!",
		opensslP12: filepath.Join(dir, "gw-openssl.p12"), keytoolP12: filepath.Join(dir, "gw-keytool.p12"),
		passwordFile: filepath.Join(dir, "p12.pw"), trustStore: filepath.Join(dir, "trust"),
		opensslName: "presence-gw", keytoolName: "presence gw 2026", // keytool stores aliases lower case
		digestPasswordFile: filepath.Join(dir, "digest.pw"),
	}
	tool := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s (the test command installs openssl and openjdk-17-jre-headless)", name, strings.Join(args, " "), err, out)
		}
	}
	tool("openssl", "pkcs12", "-export", "-in", m.pki.ClientCert, "-inkey", m.pki.ClientKey, "-certfile", m.pki.CAFile,
		"-name", m.opensslName, "-passout", "pass:"+m.password, "-out", m.opensslP12)
	// keytool writes a store of its own from the openssl one, under
	// another alias (its friendly name).
	tool("keytool", "-importkeystore", "-noprompt",
		"-srckeystore", m.opensslP12, "-srcstoretype", "PKCS12", "-srcstorepass", m.password, "-srcalias", m.opensslName,
		"-destkeystore", m.keytoolP12, "-deststoretype", "PKCS12", "-deststorepass", m.password, "-destalias", m.keytoolName)
	if err := os.WriteFile(m.passwordFile, []byte(m.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.digestPasswordFile, []byte("digest-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The trust store holds the CA as PEM and the server certificate as
	// DER, as imported certificates come.
	if err := os.Mkdir(m.trustStore, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(m.pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := os.ReadFile(m.pki.ServerCert)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(srv)
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"corp-ca.pem": ca, "presence-pool.cer": block.Bytes} {
		if err := os.WriteFile(filepath.Join(m.trustStore, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestSIPSecure runs presenced over TLS against a Kamailio home pool that
// requires a client certificate from the corporate CA and digest
// credentials, reached through DNS SRV and a Director that redirects to
// the home pool; and checks the PKCS#12 friendly-name choice, including
// the error when the name is not in the file.
func TestSIPSecure(t *testing.T) {
	m := newSIPMaterial(t)
	home := kamailiotest.Start(t, kamailiotest.Options{
		TLS: true, TLSCertFile: m.pki.ServerCert, TLSKeyFile: m.pki.ServerKey, TLSCAFile: m.pki.CAFile,
		TLSVerifyClient: true, TLSRequireClient: true,
		Auth: map[string]string{"presence_e2e": "digest-pw"},
	})
	director := kamailiotest.Start(t, kamailiotest.Options{
		TLS: true, TLSCertFile: m.pki.ServerCert, TLSKeyFile: m.pki.ServerKey,
		RedirectTo: home.TLSAddr(), RedirectTransport: "tls",
	})
	dns := dnstest.Start(t)
	_, dport, _ := net.SplitHostPort(director.TLSAddr())
	port, _ := strconv.Atoi(dport)
	dns.AddSRV("_sips._tcp.example.com", 10, 0, uint16(port), "sip.example.com")
	dns.AddA("sip.example.com", net.IPv4(127, 0, 0, 1))

	// bob's own SIP client talks to the home pool over TCP with the
	// digest credentials.
	notes := make(chan string, 16)
	bobClient, err := watcher.New(watcher.Config{
		Server:      home.Addr(),
		Credentials: func(string) (string, string, bool) { return "presence_e2e", "digest-pw", true },
		Notify:      func(_, _ string, body []byte) { notes <- string(body) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bobClient.Close()
	etag := "" // one publication, modified: Kamailio keeps the older of two with the same tuple
	publishBob := func(p status.Presence) {
		t.Helper()
		body, err := pidf.Build("sip:bob@example.com", p, "phone", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pub, err := bobClient.Publish(context.Background(), "sip:presence_e2e@example.com", "sip:bob@example.com", body, etag, time.Minute)
		if err != nil {
			t.Fatalf("bob's PUBLISH: %v", err)
		}
		etag = pub.ETag
	}
	tlsConfig := func(p12, name, server string) string {
		return fmt.Sprintf(`presence:
  coalesce_interval: 0s
backend:
  kind: sip
  endpoints: ["sip:presence_e2e@example.com"]
  sip:
    server: %q
    transport: tls
    dns_server: %q
    tls:
      client_pkcs12: %q
      client_pkcs12_password_file: %q
      client_friendly_name: %q
      trust_store: %q
    auth:
      password_file: %q
`, server, dns.Addr(), p12, m.passwordFile, name, m.trustStore, m.digestPasswordFile)
	}
	watchBob := func(t *testing.T, in *instance, token string, want status.Presence) {
		t.Helper()
		var sub subscriptionJSON
		if code := in.call("POST", in.client+"/v1/subscriptions", token, map[string]any{"users": []string{"bob@example.com"}}, &sub); code != 201 {
			t.Fatalf("subscribe: %d", code)
		}
		publishBob(want)
		eventually(t, "bob's presence through TLS", func() bool {
			p, _ := find(in.changes(token, sub.ID, 0).Presence, "bob@example.com")
			return p.Availability == want.Availability.String() && p.Note == want.Note
		})
	}

	t.Run("openssl PKCS12, SRV, Director, digest", func(t *testing.T) {
		in := newInstance(t, tlsConfig(m.opensslP12, m.opensslName, "example.com"))
		alice := in.token("alice@example.com")
		in.start()
		watchBob(t, in, alice, status.Presence{Availability: status.Busy, Note: "via the director"})
		if n := strings.Count(director.LogTail(-1), "director: redirect SUBSCRIBE sip:bob@example.com"); n != 1 {
			t.Errorf("the Director redirected %d SUBSCRIBEs for bob, want 1", n)
		}
		if dns.Queries() == 0 {
			t.Error("no DNS query reached the test DNS server")
		}
		if !strings.Contains(home.LogTail(-1), "auth: challenge SUBSCRIBE from sip:presence_e2e@example.com") {
			t.Error("the home pool never challenged presenced's SUBSCRIBE")
		}
		// alice's own presence goes the same way (Director, digest as the
		// endpoint) and reaches bob's client at the home pool.
		if err := bobClient.Subscribe(context.Background(), "sip:presence_e2e@example.com", "sip:alice@example.com"); err != nil {
			t.Fatal(err)
		}
		in.publish(alice, "DoNotDisturb", "focus over tls")
		deadline := time.After(15 * time.Second)
		for {
			select {
			case body := <-notes:
				if doc, err := pidf.Parse([]byte(body)); err == nil && doc.Presence().Note == "focus over tls" {
					return
				}
			case <-deadline:
				t.Fatalf("alice's publication never reached the home pool; presenced log:\n%s", in.logs.String())
			}
		}
	})

	t.Run("keytool PKCS12 straight to the pool", func(t *testing.T) {
		in := newInstance(t, tlsConfig(m.keytoolP12, m.keytoolName, home.TLSAddr()))
		alice := in.token("alice@example.com")
		in.start()
		watchBob(t, in, alice, status.Presence{Availability: status.Away, Note: "keytool made"})
	})

	t.Run("friendly name not in the file", func(t *testing.T) {
		in := newInstance(t, tlsConfig(m.opensslP12, "Presence-GW", home.TLSAddr()))
		_, stderr, code := in.cli("serve", "--listen", freePort(t), "--admin-listen", freePort(t), "--data-dir", in.dataDir)
		if code == 0 {
			t.Fatal("serve with a friendly name that is not in the file exited 0")
		}
		// The log line is JSON: the quotes of the names are escaped.
		for _, want := range []string{"backend.sip.tls.client_pkcs12", `no certificate named \"Presence-GW\"`, `(found \"presence-gw\")`} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if strings.Contains(stderr, m.password) {
			t.Error("stderr shows the PKCS#12 password")
		}
	})
}
