package component

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/presenced/presenced/internal/xmpp/ejabberdtest"
	"github.com/presenced/presenced/internal/xmpp/prosodytest"
)

// wantPerms are the permissions both test servers advertise with
// Privileged (ejabberd reports presence managed_entity and roster as
// roster alone).
var wantPerms = map[string]string{"roster": "both", "message": "outgoing", "presence": "roster"}

// TestProsody runs the suite and the research experiments against one
// privileged Prosody.
func TestProsody(t *testing.T) {
	begin := time.Now()
	srv := prosodytest.Start(t, prosodytest.Options{Privileged: true})
	t.Logf("prosody started in %v", time.Since(begin).Round(time.Millisecond))
	p := peer{server: srv, name: "prosody", pool: srv.CAPool(), namespace: nsPriv2}
	research(t, p, prosodyFacts)
	suite(t, p)
}

// TestEjabberd runs the suite and the research experiments against one
// privileged ejabberd.
func TestEjabberd(t *testing.T) {
	begin := time.Now()
	srv := ejabberdtest.Start(t, ejabberdtest.Options{Privileged: true})
	t.Logf("ejabberd started in %v", time.Since(begin).Round(time.Millisecond))
	p := peer{server: srv, name: "ejabberd", pool: srv.CertPool(), namespace: nsPriv1}
	research(t, p, ejabberdFacts(srv))
	suite(t, p)
}

// suite checks the Conn against p, in order (the last subtest restarts
// the server).
func suite(t *testing.T, p peer) {
	p.AddUser(t, "carol", "carol-pw")

	t.Run("right secret", func(t *testing.T) {
		begin := time.Now()
		r := start(t, p, Config{})
		got := r.privileged(t)
		t.Logf("connected and privileged after %v", time.Since(begin).Round(time.Millisecond))
		want := State{Connected: true, Privileged: true, Perms: wantPerms, Namespace: p.namespace}
		if diff := cmp.Diff(want, got, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("state (-want +got):\n%s", diff)
		}
		if err := r.Health(); err != nil {
			t.Errorf("Health = %v, want nil", err)
		}
	})

	t.Run("wrong secret, then fixed", func(t *testing.T) {
		bad := start(t, p, Config{Secret: "not-" + p.Secret(), RetryBase: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond})
		const want = "component handshake refused: not-authorized (wrong secret?)"
		bad.waitState(t, "not-authorized", func(s State) bool { return strings.HasPrefix(errText(s.Err), want) })
		deadline := time.Now().Add(eventually)
		for bad.attempts.Load() < 4 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := bad.attempts.Load(); n < 4 {
			t.Fatalf("%d connection attempts within %v, want at least 4", n, eventually)
		}
		if got := errText(bad.Health()); !strings.HasPrefix(got, want) {
			t.Errorf("Health = %q, want it to start with %q", got, want)
		} else {
			t.Logf("Health: %s", got)
		}
		bad.stop()
		if got := bad.logs.matching("not-authorized"); len(got) != 1 {
			t.Errorf("not-authorized logged %d times over %d attempts, want once:\n%s",
				len(got), bad.attempts.Load(), strings.Join(got, "\n"))
		}
		for _, l := range bad.logs.all() {
			if strings.Contains(l, p.Secret()) {
				t.Errorf("log line contains the secret: %s", l)
			}
		}
		good := start(t, p, Config{})
		good.privileged(t)
		if err := good.Health(); err != nil {
			t.Errorf("Health with the right secret = %v", err)
		}
	})

	t.Run("keepalive", func(t *testing.T) {
		r := start(t, p, Config{KeepAlive: 100 * time.Millisecond})
		r.privileged(t)
		pongs := 0
		timeout := time.After(eventually)
		for pongs < 5 {
			select {
			case raw := <-r.elements:
				if s := parse(t, raw); s.Name == "iq" && strings.HasPrefix(s.ID, "ka") {
					if s.Type != "result" || s.From != p.Domain() {
						t.Fatalf("ping answered with %+v", s)
					}
					pongs++
				}
			case s := <-r.states:
				t.Fatalf("state changed during keepalive: %+v", s)
			case <-timeout:
				t.Fatalf("%d pongs within %v", pongs, eventually)
			}
		}
	})

	t.Run("user presence", func(t *testing.T) {
		r := start(t, p, Config{})
		r.privileged(t)
		carol := login(t, p, "carol", "carol-pw", "desk")
		full := "carol@" + p.Domain() + "/desk"
		if err := carol.SendPresence("", "hello", 1); err != nil {
			t.Fatal(err)
		}
		echoed(t, carol, "hello")
		steps := []struct{ show, status string }{{"away", "in a meeting"}, {"dnd", "busy"}, {"", "back"}}
		for _, st := range steps {
			if err := carol.SendPresence(st.show, st.status, 1); err != nil {
				t.Fatal(err)
			}
			got := r.waitPresence(t, full, func(s stanza) bool { return s.Status == st.status })
			want := stanza{Space: nsComponent, Name: "presence", From: full, To: p.Component(), Show: st.show, Status: st.status}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(stanza{}, "ID")); diff != "" {
				t.Errorf("presence (-want +got):\n%s", diff)
			}
		}
		if err := carol.Unavailable(); err != nil {
			t.Fatal(err)
		}
		r.waitPresence(t, full, func(s stanza) bool { return s.Type == "unavailable" })
	})

	t.Run("send", func(t *testing.T) {
		r := start(t, p, Config{})
		ctx := context.Background()
		r.privileged(t)
		if err := r.Send(ctx, []byte("<presence><x></presence>")); err == nil {
			t.Error("Send of a malformed stanza succeeded")
		}
		id := "send-" + randomID()
		ping := "<iq type='get' id='" + id + "' from='" + p.Component() + "' to='" + p.Domain() + "'><ping xmlns='urn:xmpp:ping'/></iq>"
		if err := r.Send(ctx, []byte(ping)); err != nil {
			t.Fatal(err)
		}
		waitElement(t, r, func(s stanza) bool { return s.ID == id && s.Type == "result" })
		r.stop()
		if err := r.Send(ctx, []byte(ping)); err != ErrNotConnected {
			t.Errorf("Send after Run returned: %v, want ErrNotConnected", err)
		}
	})

	t.Run("server restart", func(t *testing.T) {
		r := start(t, p, Config{})
		r.privileged(t)
		begin := time.Now()
		p.Restart(t)
		t.Logf("%s restarted in %v", p.name, time.Since(begin).Round(time.Millisecond))
		down, _ := r.waitState(t, "disconnected", func(s State) bool { return !s.Connected })
		t.Logf("while down: Health %v", down.Err)
		if down.Err == nil {
			t.Error("disconnected state without an error")
		}
		r.privileged(t)
		t.Logf("connected and privileged again %v after the restart began", time.Since(begin).Round(time.Millisecond))
		carol := login(t, p, "carol", "carol-pw", "laptop")
		if err := carol.SendPresence("xa", "after restart", 0); err != nil {
			t.Fatal(err)
		}
		echoed(t, carol, "after restart")
		r.waitPresence(t, "carol@"+p.Domain()+"/laptop", func(s stanza) bool {
			return s.Show == "xa" && s.Status == "after restart"
		})
	})
}

// waitElement reads received elements until one matches pred.
func waitElement(t *testing.T, r *running, pred func(stanza) bool) stanza {
	t.Helper()
	timeout := time.After(eventually)
	for {
		select {
		case raw := <-r.elements:
			if s := parse(t, raw); pred(s) {
				return s
			}
		case <-timeout:
			t.Fatalf("no matching element within %v", eventually)
		}
	}
}
