package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/auth/oidctest"
	"github.com/presenced/presenced/internal/push"
)

type presenceJSON struct {
	User         string `json:"user"`
	Availability string `json:"availability"`
	Code         int    `json:"code"`
	Reason       string `json:"reason,omitempty"`
	Note         string `json:"note,omitempty"`
}

type subscriptionJSON struct {
	ID       string         `json:"id"`
	Key      string         `json:"key"`
	TTL      int            `json:"ttl"`
	Sequence uint64         `json:"sequence"`
	Users    []string       `json:"users"`
	Presence []presenceJSON `json:"presence"`
}

type changesJSON struct {
	Sequence uint64         `json:"sequence"`
	Full     bool           `json:"full"`
	Presence []presenceJSON `json:"presence"`
}

type problemJSON struct {
	Code   string `json:"code"`
	Status int    `json:"status"`
}

func (in *instance) changes(token, id string, since uint64) changesJSON {
	in.t.Helper()
	var ch changesJSON
	if code := in.call("GET", fmt.Sprintf("%s/v1/subscriptions/%s/changes?since=%d", in.client, id, since), token, nil, &ch); code != 200 {
		in.t.Fatalf("changes: status %d", code)
	}
	return ch
}

func (in *instance) publish(token, availability, note string) {
	in.t.Helper()
	if code := in.call("PUT", in.client+"/v1/me/presence", token, map[string]string{"availability": availability, "note": note}, nil); code != 200 {
		in.t.Fatalf("publish: status %d", code)
	}
}

// endpointUsage is an entry of GET /v1/admin/endpoints.
type endpointUsage struct {
	ID   string `json:"id"`
	Max  int    `json:"max"`
	Used int    `json:"used"`
}

func find(ps []presenceJSON, user string) (presenceJSON, bool) {
	for _, p := range ps {
		if p.User == user {
			return p, true
		}
	}
	return presenceJSON{}, false
}

func TestCLI(t *testing.T) {
	out, _, code := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "presenced ") {
		t.Fatalf("version: %d %q", code, out)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("presence:\n  subscription_ttl: 5s\n  colour: blue\nbackend:\n  max_subscriptions_per_endpoint: 0\n"), 0o600)
	_, errOut, code := run(t, []string{"PRESENCED_LISTNE=:1"}, "check-config", "--config", bad)
	if code != 1 {
		t.Fatalf("check-config of a bad file exited %d", code)
	}
	for _, want := range []string{"presence.subscription_ttl", "presence.colour", "backend.max_subscriptions_per_endpoint", "PRESENCED_LISTNE"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, errOut)
		}
	}
	// serve refuses the same file the same way, before listening.
	_, errOut, code = run(t, nil, "serve", "--config", bad, "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "presence.colour") {
		t.Fatalf("serve with a bad config: %d\n%s", code, errOut)
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("presence:\n  subscription_ttl: 300s\n"), 0o600)
	if out, errOut, code := run(t, nil, "check-config", "--config", good); code != 0 {
		t.Fatalf("check-config good: %d %s %s", code, out, errOut)
	}
	if _, _, code := run(t, nil, "token", "create", "--data-dir", dir, "not-an-email"); code == 0 {
		t.Fatal("token create accepted an invalid email")
	}
}

// TestSubscriptionReceivesChanges is the README walkthrough: a user
// subscribes to a colleague, opens a stream, the colleague publishes, and
// the change arrives over WebSocket, SSE and changes-since.
func TestSubscriptionReceivesChanges(t *testing.T) {
	in := newInstance(t, "")
	alice, bob := in.token("alice@example.com"), in.token("bob@example.com")
	in.start()

	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", bob, map[string]any{"users": []string{"alice@example.com", "carol@example.com"}, "key": "team"}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	// Wait until the backend has reported both contacts (no longer pending).
	eventually(t, "contacts placed", func() bool {
		ch := in.changes(bob, sub.ID, 0)
		p, _ := find(ch.Presence, "carol@example.com")
		return p.Availability == "Offline"
	})
	base := in.changes(bob, sub.ID, 0).Sequence

	wsURL := "ws" + strings.TrimPrefix(in.client, "http") + "/v1/stream"
	ws, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + bob}})
	if err != nil {
		t.Fatalf("websocket dial: %v (%v)", err, resp)
	}
	defer ws.Close()

	sseReq, _ := http.NewRequest("GET", in.client+"/v1/stream", nil)
	sseReq.Header.Set("Authorization", "Bearer "+bob)
	sseReq.Header.Set("Accept", "text/event-stream")
	sseResp, err := (&http.Client{}).Do(sseReq)
	if err != nil || sseResp.StatusCode != 200 {
		t.Fatalf("sse: %v %v", err, sseResp)
	}
	defer sseResp.Body.Close()

	// Streams are attached once the hub counts them.
	admin := in.adminToken()
	eventually(t, "two streams attached", func() bool {
		var st map[string]any
		in.call("GET", in.admin+"/v1/admin/stats", admin, nil, &st)
		return st["streams"] == float64(2)
	})

	in.publish(alice, "Busy", "in a meeting")

	type event struct {
		Type         string       `json:"type"`
		Subscription string       `json:"subscription"`
		Sequence     uint64       `json:"sequence"`
		Presence     presenceJSON `json:"presence"`
	}
	want := event{Type: "presence", Subscription: sub.ID, Presence: presenceJSON{User: "alice@example.com", Availability: "Busy", Code: 6000, Note: "in a meeting"}}
	ignoreSeq := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Sequence" }, cmp.Ignore())

	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got event
	if err := ws.ReadJSON(&got); err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	if diff := cmp.Diff(want, got, ignoreSeq); diff != "" {
		t.Errorf("websocket event (-want +got):\n%s", diff)
	}
	if got.Sequence <= base {
		t.Errorf("event sequence %d not above %d", got.Sequence, base)
	}

	sc := bufio.NewScanner(sseResp.Body)
	var sseGot event
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data: ") {
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &sseGot); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if diff := cmp.Diff(got, sseGot); diff != "" {
		t.Errorf("SSE event differs from WebSocket event (-ws +sse):\n%s", diff)
	}

	ch := in.changes(bob, sub.ID, base)
	if ch.Full || len(ch.Presence) != 1 || ch.Presence[0].User != "alice@example.com" || ch.Sequence != got.Sequence {
		t.Errorf("changes since %d = %+v", base, ch)
	}
	if ch := in.changes(bob, sub.ID, ch.Sequence); len(ch.Presence) != 0 {
		t.Errorf("changes since the latest sequence = %+v, want none", ch)
	}

	// SIGTERM tells the WebSocket to go away (1001). The client reads
	// meanwhile, so it answers the close handshake.
	closed := make(chan error, 1)
	go func() {
		ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, _, err := ws.ReadMessage()
		closed <- err
	}()
	in.stop()
	if err := <-closed; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after SIGTERM the websocket read returned %v, want close 1001", err)
	}
}

// TestRestartKeepsSubscriptionsSettingsAndTokens stops presenced and
// starts it again on the same data dir.
func TestRestartKeepsSubscriptionsSettingsAndTokens(t *testing.T) {
	in := newInstance(t, "")
	alice, bob, admin := in.token("alice@example.com"), in.token("bob@example.com"), in.adminToken()
	in.start()
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", bob, map[string]any{"users": []string{"alice@example.com"}, "key": "k"}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	if code := in.call("PUT", in.admin+"/v1/admin/settings", admin, map[string]any{"subscription_ttl": 1000}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	in.publish(alice, "Away", "")
	eventually(t, "alice Away", func() bool {
		p, _ := find(in.changes(bob, sub.ID, 0).Presence, "alice@example.com")
		return p.Availability == "Away"
	})
	before := in.changes(bob, sub.ID, 0).Sequence
	in.stop()

	in.start()
	var list struct {
		Subscriptions []subscriptionJSON `json:"subscriptions"`
	}
	if code := in.call("GET", in.client+"/v1/subscriptions", bob, nil, &list); code != 200 {
		t.Fatalf("list after restart: %d", code)
	}
	if len(list.Subscriptions) != 1 || list.Subscriptions[0].ID != sub.ID || !cmp.Equal(list.Subscriptions[0].Users, []string{"alice@example.com"}) {
		t.Fatalf("after restart: %+v", list.Subscriptions)
	}
	if list.Subscriptions[0].TTL != 1000 {
		t.Errorf("ttl after restart = %d, want the admin's 1000", list.Subscriptions[0].TTL)
	}
	ch := in.changes(bob, sub.ID, before)
	if !ch.Full || ch.Sequence <= before {
		t.Errorf("changes since a pre-restart sequence = full %v seq %d; want full above %d", ch.Full, ch.Sequence, before)
	}
	var settings struct {
		SubscriptionTTL int `json:"subscription_ttl"`
	}
	in.call("GET", in.admin+"/v1/admin/settings", admin, nil, &settings)
	if settings.SubscriptionTTL != 1000 {
		t.Errorf("settings after restart = %+v", settings)
	}
	// The watch is re-established: a new publication reaches the subscription.
	in.publish(alice, "DoNotDisturb", "")
	eventually(t, "change after restart", func() bool {
		p, _ := find(in.changes(bob, sub.ID, 0).Presence, "alice@example.com")
		return p.Availability == "DoNotDisturb"
	})
}

// TestPushHintsAreSigned runs a push relay that verifies the HMAC.
func TestPushHintsAreSigned(t *testing.T) {
	const secret = "relay-secret-for-tests"
	hints := make(chan map[string]any, 10)
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !push.Verify([]byte(secret), body, r.Header.Get(push.SignatureHeader)) {
			t.Errorf("bad signature %q on %s", r.Header.Get(push.SignatureHeader), body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var h map[string]any
		json.Unmarshal(body, &h)
		hints <- h
	}))
	defer relay.Close()
	in := newInstance(t, fmt.Sprintf("push:\n  webhook_url: %q\n  secret: %q\n", relay.URL, secret))
	t.Cleanup(func() {
		if strings.Contains(in.logs.String(), secret) {
			t.Error("the push secret appears in the logs")
		}
	})
	alice, bob := in.token("alice@example.com"), in.token("bob@example.com")
	in.start()
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", bob, map[string]any{"users": []string{"alice@example.com"}, "key": "phone", "push_token": "device-123"}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	var h map[string]any
	select {
	case h = <-hints: // the contact's first state (pending -> Offline) is a change
	case <-time.After(15 * time.Second):
		t.Fatal("no push hint")
	}
	want := map[string]any{"push_token": "device-123", "user": "bob@example.com", "subscription": sub.ID, "key": "phone"}
	delete(h, "sequence")
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("hint (-want +got):\n%s", diff)
	}
	// Coalesced: no second hint until the app fetches.
	in.publish(alice, "Busy", "")
	eventually(t, "alice Busy in state", func() bool {
		var q struct{ Presence []presenceJSON }
		in.call("POST", in.client+"/v1/presence/query", bob, map[string]any{"users": []string{"alice@example.com"}}, &q)
		return len(q.Presence) == 1 && q.Presence[0].Availability == "Busy"
	})
	select {
	case extra := <-hints:
		t.Fatalf("second hint before the app fetched: %v", extra)
	default:
	}
	in.changes(bob, sub.ID, 0) // the app fetches
	in.publish(alice, "Available", "")
	select {
	case h = <-hints:
		if h["subscription"] != sub.ID {
			t.Errorf("hint after fetch: %v", h)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no push hint after the app fetched")
	}
}

// TestOIDCTokens accepts JWTs of a configured issuer and refuses expired,
// wrong-audience and unknown-key ones.
func TestOIDCTokens(t *testing.T) {
	iss := oidctest.NewIssuer(t)
	in := newInstance(t, fmt.Sprintf("auth:\n  oidc:\n    issuer: %q\n    audience: presenced-e2e\n", iss.URL()))
	in.start()
	good := iss.Sign(iss.Claims("dana@example.com", "presenced-e2e"))
	var me map[string]any
	if code := in.call("GET", in.client+"/v1/me", good, nil, &me); code != 200 || me["user"] != "dana@example.com" {
		t.Fatalf("valid JWT: %d %v", code, me)
	}
	expired := iss.Claims("dana@example.com", "presenced-e2e")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	expired["iat"] = time.Now().Add(-2 * time.Hour).Unix()
	rotated := iss.Rotate()
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"expired", iss.Sign(expired), 401},
		{"wrong audience", iss.Sign(iss.Claims("dana@example.com", "someone-else")), 401},
		{"unknown key", iss.SignWithUnknownKey(iss.Claims("dana@example.com", "presenced-e2e")), 401},
		{"rotated key is fetched", iss.Sign(iss.Claims("erin@example.com", "presenced-e2e"), oidctest.WithKeyID(rotated)), 200},
		{"garbage", "a.b.c", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p problemJSON
			code := in.call("GET", in.client+"/v1/me", tt.token, nil, &p)
			if code != tt.want {
				t.Fatalf("status %d, want %d", code, tt.want)
			}
			if tt.want == 401 && p.Code != "unauthorized" {
				t.Errorf("problem code %q", p.Code)
			}
		})
	}
}

// TestAllowlistAndEndpointPool changes the allowlist through the admin API
// and checks fill-first placement with no_capacity.
func TestAllowlistAndEndpointPool(t *testing.T) {
	in := newInstance(t, "backend:\n  endpoints: [ep-a, ep-b]\n  max_subscriptions_per_endpoint: 1\npresence:\n  watch_linger: 0s\n")
	bob, admin := in.token("bob@example.com"), in.adminToken()
	in.start()
	var sub subscriptionJSON
	users := []string{"a@one.com", "b@two.com", "c@three.com"}
	if code := in.call("POST", in.client+"/v1/subscriptions", bob, map[string]any{"users": users}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	var eps struct{ Endpoints []endpointUsage }
	eventually(t, "endpoints filled", func() bool {
		in.call("GET", in.admin+"/v1/admin/endpoints", admin, nil, &eps)
		return cmp.Equal(eps.Endpoints, []endpointUsage{{"ep-a", 1, 1}, {"ep-b", 1, 1}})
	})
	eventually(t, "one contact without capacity", func() bool {
		n := 0
		for _, p := range in.changes(bob, sub.ID, 0).Presence {
			if p.Reason == "no_capacity" {
				n++
			}
		}
		return n == 1
	})

	// Allow only one.com: the others turn domain_not_allowed and free
	// their endpoints.
	if code := in.call("PUT", in.admin+"/v1/admin/settings", admin, map[string]any{"allowlist": map[string]any{"enabled": true, "domains": "one.com"}}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	ch := in.changes(bob, sub.ID, 0)
	for _, p := range ch.Presence {
		if p.User != "a@one.com" && p.Reason != "domain_not_allowed" {
			t.Errorf("%s = %+v after its domain was removed", p.User, p)
		}
	}
	eventually(t, "one endpoint used", func() bool {
		in.call("GET", in.admin+"/v1/admin/endpoints", admin, nil, &eps)
		return eps.Endpoints[0].Used+eps.Endpoints[1].Used == 1
	})
	var p problemJSON
	if code := in.call("POST", in.admin+"/v1/admin/allowlist/domains", admin, map[string]any{"domains": "bad_domain"}, &p); code != 400 || p.Code != "invalid_request" {
		t.Errorf("invalid domain: %d %+v", code, p)
	}
	if code := in.call("GET", in.admin+"/v1/admin/settings", bob, nil, &p); code != 403 {
		t.Errorf("client token on the admin API: %d", code)
	}
	metrics := in.metrics()
	for _, want := range []string{`presenced_endpoint_subscriptions{endpoint="ep-a"}`, "presenced_client_subscriptions 1", "presenced_watched_contacts 1", "presenced_waiting_contacts 0", "presenced_state_bus_dropped_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestTLSListeners serves both listeners over HTTPS with a test
// certificate.
func TestTLSListeners(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	in := newInstance(t, fmt.Sprintf("tls:\n  cert_file: %q\n  key_file: %q\n", certFile, keyFile))
	in.http = tlsClient(&tls.Config{RootCAs: pool})
	bob := in.token("bob@example.com")
	in.start()
	var me map[string]any
	if code := in.call("GET", in.client+"/v1/me", bob, nil, &me); code != 200 || me["user"] != "bob@example.com" {
		t.Fatalf("https /v1/me: %d %v", code, me)
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	resp, err := plain.Get("http" + strings.TrimPrefix(in.client, "https") + "/healthz")
	if err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on a TLS listener")
	}
	if err == nil {
		resp.Body.Close()
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "presenced test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestPendingHintsSurviveRestart: hints the relay did not accept before
// SIGTERM are persisted and delivered by the next start.
func TestPendingHintsSurviveRestart(t *testing.T) {
	const secret = "s3cret"
	var failing atomic.Bool
	failing.Store(true)
	hints := make(chan map[string]any, 10)
	var attempts atomic.Int32
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		attempts.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if !push.Verify([]byte(secret), body, r.Header.Get(push.SignatureHeader)) {
			t.Errorf("bad signature")
		}
		var h map[string]any
		json.Unmarshal(body, &h)
		hints <- h
	}))
	defer relay.Close()
	in := newInstance(t, fmt.Sprintf("push:\n  webhook_url: %q\n  secret: %q\n  max_attempts: 100\n", relay.URL, secret))
	bob, admin := in.token("bob@example.com"), in.adminToken()
	in.start()
	var sub subscriptionJSON
	if code := in.call("POST", in.client+"/v1/subscriptions", bob, map[string]any{"users": []string{"alice@example.com"}, "push_token": "dev"}, &sub); code != 201 {
		t.Fatalf("subscribe: %d", code)
	}
	eventually(t, "a failed delivery attempt", func() bool { return attempts.Load() > 0 })
	// Only example.org is allowed from now on, so after the restart
	// nothing changes in the subscription and the only hint is the saved one.
	if code := in.call("PUT", in.admin+"/v1/admin/settings", admin, map[string]any{"allowlist": map[string]any{"enabled": true, "domains": []string{"example.org"}}}, nil); code != 200 {
		t.Fatalf("settings: %d", code)
	}
	in.stop()
	failing.Store(false)
	in.start()
	select {
	case h := <-hints:
		seq, _ := h["sequence"].(float64)
		if h["subscription"] != sub.ID || h["push_token"] != "dev" || seq <= 0 || seq >= 1<<20 {
			t.Errorf("delivered hint %v; want the pre-restart hint of %s", h, sub.ID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the saved hint was not delivered after the restart")
	}
}

// TestAdminMintsClientTokens: provisioning through the admin API.
func TestAdminMintsClientTokens(t *testing.T) {
	in := newInstance(t, "")
	admin, bob := in.adminToken(), in.token("bob@example.com")
	in.start()
	var minted struct{ User, Token string }
	if code := in.call("POST", in.admin+"/v1/admin/tokens", admin, map[string]string{"user": "Frank@Example.com"}, &minted); code != 201 || minted.User != "frank@example.com" {
		t.Fatalf("mint: %d %+v", code, minted)
	}
	var me map[string]any
	if code := in.call("GET", in.client+"/v1/me", minted.Token, nil, &me); code != 200 || me["user"] != "frank@example.com" {
		t.Fatalf("minted token: %d %v", code, me)
	}
	var p problemJSON
	if code := in.call("POST", in.admin+"/v1/admin/tokens", admin, map[string]string{"user": "nope"}, &p); code != 400 || p.Code != "invalid_request" {
		t.Errorf("invalid user: %d %+v", code, p)
	}
	if code := in.call("POST", in.admin+"/v1/admin/tokens", bob, map[string]string{"user": "x@example.com"}, &p); code != 403 {
		t.Errorf("client token minting: %d", code)
	}
	if strings.Contains(in.logs.String(), minted.Token) {
		t.Error("the minted secret appears in the logs")
	}
}
