package adminauth

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/presenced/presenced/internal/clock/clocktest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestSessionExpiry(t *testing.T) {
	type step struct {
		advance time.Duration
		lookup  bool // look the session up after advancing (which touches it)
		want    bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"fresh", []step{{0, true, true}}},
		{"just before idle timeout", []step{{30*time.Minute - time.Second, true, true}}},
		{"idle timeout", []step{{30 * time.Minute, true, false}}},
		{"use restarts idle timeout", []step{
			{29 * time.Minute, true, true},
			{29 * time.Minute, true, true},
			{29 * time.Minute, true, true},
		}},
		{"expired stays expired", []step{{31 * time.Minute, true, false}, {0, true, false}}},
		{"absolute lifetime despite use", func() []step {
			var s []step
			for range 12*60/20 - 1 { // used every 20 minutes until 11h40m
				s = append(s, step{20 * time.Minute, true, true})
			}
			return append(s, step{19 * time.Minute, true, true}, step{time.Minute, true, false})
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			s := NewSessions(SessionConfig{}, clk)
			id, _ := s.Create("alice")
			for i, st := range tt.steps {
				clk.Advance(st.advance)
				if _, ok := s.Lookup(id); ok != st.want {
					t.Fatalf("step %d at %v: Lookup ok = %v, want %v", i, clk.Now().Sub(t0), ok, st.want)
				}
			}
		})
	}
}

func TestSessionLookupAndDelete(t *testing.T) {
	clk := clocktest.New(t0)
	s := NewSessions(SessionConfig{}, clk)
	id, created := s.Create("alice")
	clk.Advance(time.Minute)
	got, ok := s.Lookup(id)
	if !ok {
		t.Fatal("Lookup of a new session failed")
	}
	want := Session{Account: "alice", CSRF: created.CSRF, CreatedAt: t0, LastSeen: t0.Add(time.Minute)}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Session{})); diff != "" {
		t.Errorf("Lookup (-want +got):\n%s", diff)
	}
	if len(created.CSRF) != secretLen || created.CSRF == id {
		t.Errorf("CSRF token %q: want a fresh %d-character secret", created.CSRF, secretLen)
	}
	other := "A" // a one-character change of the id (never the id itself)
	if strings.HasSuffix(id, "A") {
		other = "B"
	}
	for _, bad := range []string{"", "short", id[:len(id)-1] + other, created.CSRF} {
		if _, ok := s.Lookup(bad); ok {
			t.Errorf("Lookup(%q) succeeded", bad)
		}
	}
	s.Delete(id)
	if _, ok := s.Lookup(id); ok {
		t.Error("Lookup after Delete succeeded")
	}
	s.Delete(id) // deleting twice is harmless
}

func TestSessionsStoreOnlyHashes(t *testing.T) {
	s := NewSessions(SessionConfig{}, clocktest.New(t0))
	id, _ := s.Create("alice")
	for key := range s.byKey {
		if string(key[:]) == id || key != sessionKey(id) {
			t.Errorf("session stored under %x, want SHA-256 of the id", key)
		}
	}
}

func TestSessionsPerAccountBound(t *testing.T) {
	clk := clocktest.New(t0)
	s := NewSessions(SessionConfig{MaxSessionsPerAccount: 3}, clk)
	var ids []string
	for range 5 {
		id, _ := s.Create("alice")
		ids = append(ids, id)
		clk.Advance(time.Second)
	}
	bobID, _ := s.Create("bob")
	var live []bool
	for _, id := range append(ids, bobID) {
		_, ok := s.Lookup(id)
		live = append(live, ok)
	}
	if diff := cmp.Diff([]bool{false, false, true, true, true, true}, live); diff != "" {
		t.Errorf("live sessions (alice ×5 oldest first, bob) (-want +got):\n%s", diff)
	}
	if n := len(s.byKey); n != 4 {
		t.Errorf("%d sessions stored, want 4", n)
	}
	s.DeleteAccount("alice")
	if _, ok := s.Lookup(ids[4]); ok {
		t.Error("alice's session survived DeleteAccount")
	}
	if _, ok := s.Lookup(bobID); !ok {
		t.Error("bob's session ended by DeleteAccount(alice)")
	}
}

func TestSessionsDropExpiredOnCreate(t *testing.T) {
	clk := clocktest.New(t0)
	s := NewSessions(SessionConfig{MaxSessionsPerAccount: 2}, clk)
	s.Create("alice")
	s.Create("alice")
	clk.Advance(time.Hour) // both idle out
	id, _ := s.Create("alice")
	if n := len(s.byKey); n != 1 {
		t.Errorf("%d sessions stored after the others expired, want 1", n)
	}
	if _, ok := s.Lookup(id); !ok {
		t.Error("new session not found")
	}
}

func TestCheckCSRF(t *testing.T) {
	sess := Session{CSRF: "tok-abc"}
	tests := []struct {
		name  string
		sess  Session
		token string
		want  bool
	}{
		{"right", sess, "tok-abc", true},
		{"wrong", sess, "tok-abd", false},
		{"prefix", sess, "tok-ab", false},
		{"empty token", sess, "", false},
		{"session without token", Session{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckCSRF(tt.sess, tt.token); got != tt.want {
				t.Errorf("CheckCSRF = %v, want %v", got, tt.want)
			}
		})
	}
}
