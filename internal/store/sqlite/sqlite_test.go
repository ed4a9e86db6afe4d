package sqlite

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/store"
)

var testSettings = store.Settings{SubscriptionTTL: time.Minute}

// openTest opens a store at path and closes it when the test ends.
func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	// A directory name with URI-special characters must stay a path.
	dir := filepath.Join(t.TempDir(), "data dir?#%20", "nested")
	path := filepath.Join(dir, "presenced.db")
	s := openTest(t, path)
	if err := s.Settings().Put(t.Context(), testSettings); err != nil {
		t.Fatalf("Put: %v", err) // writes the WAL
	}

	got := map[string]os.FileMode{}
	for _, p := range []string{filepath.Dir(dir), dir, path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		got[strings.TrimPrefix(p, filepath.Dir(filepath.Dir(dir)))] = fi.Mode().Perm()
	}
	want := map[string]os.FileMode{
		"/data dir?#%20":                         0o700,
		"/data dir?#%20/nested":                  0o700,
		"/data dir?#%20/nested/presenced.db":     0o600,
		"/data dir?#%20/nested/presenced.db-wal": 0o600,
		"/data dir?#%20/nested/presenced.db-shm": 0o600,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("file modes (-want +got):\n%s", diff)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"empty path", ""},
		{"parent is a file", filepath.Join(notDir, "presenced.db")},
		{"path is a directory", dir},
		{"not a database", garbage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.path, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded; want an error", tt.path)
			}
		})
	}
}

// pragma returns the value of PRAGMA name on db.
func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "presenced.db"))
	names := []string{"journal_mode", "busy_timeout", "foreign_keys", "synchronous", "query_only"}
	read := func(db *sql.DB) map[string]string {
		m := map[string]string{}
		for _, n := range names {
			m[n] = pragma(t, db, n)
		}
		return m
	}
	// synchronous: 1 is NORMAL. The readers' value does not matter.
	wantWrite := map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "synchronous": "1", "query_only": "0"}
	if diff := cmp.Diff(wantWrite, read(s.write)); diff != "" {
		t.Errorf("writer pragmas (-want +got):\n%s", diff)
	}
	// Check several reader connections at once, so that each one is a new
	// connection that must have got the pragmas from the DSN.
	conns := make([]*sql.Conn, readers)
	for i := range conns {
		c, err := s.read.Conn(t.Context())
		if err != nil {
			t.Fatalf("reader conn: %v", err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		got := map[string]string{}
		for _, n := range []string{"journal_mode", "busy_timeout", "foreign_keys", "query_only"} {
			var v string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+n).Scan(&v); err != nil {
				t.Fatalf("reader %d PRAGMA %s: %v", i, n, err)
			}
			got[n] = v
		}
		want := map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "query_only": "1"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("reader %d pragmas (-want +got):\n%s", i, diff)
		}
	}
}

func TestReadersCannotWrite(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "presenced.db"))
	if _, err := s.read.ExecContext(t.Context(), `DELETE FROM tokens`); err == nil {
		t.Error("DELETE through the reader pool succeeded; want a read-only error")
	}
	// Even with query_only switched off, mode=ro refuses the write.
	c, err := s.read.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(t.Context(), `PRAGMA query_only = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(t.Context(), `INSERT INTO push_hints VALUES ('x', x'00', 0)`); err == nil {
		t.Error("INSERT through a mode=ro connection succeeded")
	}
}

func TestWriterIsOneConnection(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "presenced.db"))
	if got := s.write.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer MaxOpenConnections = %d; want 1", got)
	}
}

// TestTwoStoresShareFile writes through two stores on one file at once, as
// `presenced token create` does beside a running server: busy_timeout and
// BEGIN IMMEDIATE must let every write through.
func TestTwoStoresShareFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "presenced.db")
	stores := []*Store{openTest(t, path), openTest(t, path)}
	const rounds = 20
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for r := range rounds {
				id := fmt.Sprintf("s%d-%d", i, r)
				x := store.Subscription{ID: id, User: "alice@example.com", Key: id, Contacts: []string{"bob@example.com"}}
				if err := s.Subscriptions().Put(t.Context(), x); err != nil {
					t.Errorf("store %d: Put: %v", i, err)
					return
				}
				if err := s.Subscriptions().Touch(t.Context(), []store.Touch{{ID: id, Sequence: 2}}); err != nil {
					t.Errorf("store %d: Touch: %v", i, err)
					return
				}
				tok := store.Token{Hash: [32]byte{byte(i), byte(r)}, Kind: store.AdminToken}
				if err := s.Tokens().Create(t.Context(), tok); err != nil {
					t.Errorf("store %d: Create token: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, s := range stores {
		subs, err := s.Subscriptions().List(t.Context())
		if err != nil {
			t.Fatalf("store %d: List: %v", i, err)
		}
		if len(subs) != len(stores)*rounds {
			t.Errorf("store %d sees %d subscriptions; want %d", i, len(subs), len(stores)*rounds)
		}
	}
}
