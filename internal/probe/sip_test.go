package probe_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/dnstest"
	"github.com/presenced/presenced/internal/probe"
	"github.com/presenced/presenced/internal/sip/kamailiotest"
)

const p12Password = "p12-Secret!"

// newP12 writes the PKI's client certificate and key as a PKCS#12 file
// with openssl under the friendly name name, and returns its path.
func newP12(t *testing.T, pki kamailiotest.PKI, name string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "gw.p12")
	out, err := exec.Command("openssl", "pkcs12", "-export", "-in", pki.ClientCert, "-inkey", pki.ClientKey,
		"-certfile", pki.CAFile, "-name", name, "-passout", "pass:"+p12Password, "-out", file).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12 -export: %v\n%s (the test command installs openssl)", err, out)
	}
	return file
}

// answer403 is a loopback TCP peer that answers every SIP request with
// 403: Kamailio's test configuration answers every OPTIONS 200.
func answer403(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				var head []string
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					if line == "" {
						break
					}
					head = append(head, line)
				}
				res := "SIP/2.0 403 Forbidden\r\n"
				for _, h := range head[1:] {
					for _, name := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
						if strings.HasPrefix(h, name) {
							res += h + "\r\n"
						}
					}
				}
				c.Write([]byte(res + "Content-Length: 0\r\n\r\n"))
			}()
		}
	}()
	return l.Addr().String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestSIP(t *testing.T) {
	pki := kamailiotest.NewPKI(t)
	other := kamailiotest.NewPKI(t) // a CA the server does not use
	k := kamailiotest.Start(t, kamailiotest.Options{
		TLS: true, TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey, TLSCAFile: pki.CAFile,
		TLSVerifyClient: true, TLSRequireClient: true,
	})
	p12 := newP12(t, pki, "presence-gw")
	strangerP12 := newP12(t, other, "presence-gw") // issued by the other CA
	pwFile := filepath.Join(t.TempDir(), "p12.pw")
	if err := os.WriteFile(pwFile, []byte(p12Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dns := dnstest.Start(t)
	_, port, _ := net.SplitHostPort(k.TLSAddr())
	n, _ := strconv.Atoi(port)
	dns.AddSRV("_sips._tcp.example.com", 10, 0, uint16(n), "sip.example.com")
	dns.AddA("sip.example.com", net.IPv4(127, 0, 0, 1))

	good := config.SIPConfig{Server: k.TLSAddr(), Transport: "tls", TLS: config.SIPTLSConfig{
		ClientPKCS12: p12, ClientPKCS12PasswordFile: pwFile, ClientFriendlyName: "presence-gw",
		TrustStore: pki.CAFile, ServerName: "127.0.0.1",
	}}
	with := func(f func(*config.SIPConfig)) config.SIPConfig {
		c := good
		f(&c)
		return c
	}
	all := []string{"locate server", "load client certificate", "load trust store", "connect", "TLS handshake", "OPTIONS"}
	tests := []struct {
		name   string
		cfg    config.SIPConfig
		steps  int // how many of all ran
		failed bool
		detail string
	}{
		{"ok", good, 6, false, "200 OK in"},
		{"ok through DNS SRV", with(func(c *config.SIPConfig) {
			c.Server, c.DNSServer, c.TLS.ServerName = "example.com", dns.Addr(), ""
		}), 6, false, "200 OK"},
		{"wrong friendly name", with(func(c *config.SIPConfig) { c.TLS.ClientFriendlyName = "presence gw" }), 2, true,
			`no certificate named "presence gw" in ` + p12 + ` (found "presence-gw")`},
		{"wrong PKCS#12 password", with(func(c *config.SIPConfig) {
			c.TLS.ClientPKCS12PasswordFile, c.TLS.ClientPKCS12Password = "", "not-the-password"
		}), 2, true, "wrong password"},
		{"unknown CA", with(func(c *config.SIPConfig) { c.TLS.TrustStore = other.CAFile }), 5, true,
			"unknown CA: server certificate CN=127.0.0.1 (issuer CN=kamailiotest CA) does not chain to a certificate of trust store " + other.CAFile},
		{"wrong server name", with(func(c *config.SIPConfig) { c.TLS.ServerName = "sip.example.org" }), 5, true,
			"server certificate does not match"},
		{"no client certificate", with(func(c *config.SIPConfig) { c.TLS.ClientPKCS12 = "" }), 5, true,
			"handshake refused by the server: certificate required (the server requires a client certificate and none is configured)"},
		{"client certificate from another CA", with(func(c *config.SIPConfig) { c.TLS.ClientPKCS12 = strangerP12 }), 5, true,
			"handshake refused by the server"},
		{"connection refused", with(func(c *config.SIPConfig) { c.Server = closedPort(t) }), 4, true,
			"connection refused by 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probe.SIP(ctx(t, 10*time.Second), tt.cfg, "sip:presence_probe@example.com")
			check(t, r, all[:tt.steps], tt.failed, tt.detail, p12Password)
		})
	}
	t.Run("OPTIONS 403 over TCP", func(t *testing.T) {
		r := probe.SIP(ctx(t, 10*time.Second), config.SIPConfig{Server: answer403(t), Transport: "tcp"}, "sip:presence_probe@example.com")
		check(t, r, []string{"locate server", "connect", "OPTIONS"}, true, "OPTIONS 403 Forbidden")
	})
	t.Run("OPTIONS over TCP", func(t *testing.T) {
		r := probe.SIP(ctx(t, 10*time.Second), config.SIPConfig{Server: k.Addr(), Transport: "tcp"}, "sip:presence_probe@example.com")
		check(t, r, []string{"locate server", "connect", "OPTIONS"}, false, "200 OK")
	})
}
