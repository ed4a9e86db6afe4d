package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/presenced/presenced/internal/store"
)

// TestUpgradeFromVersion1 opens a file with only the first schema
// version, as presenced left it before admin accounts existed, and checks
// that Open migrates it and keeps its data.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "presenced.db")
	if err := createFile(path); err != nil {
		t.Fatal(err)
	}
	v1, err := fs.ReadFile(migrationFiles, "migrations/00001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db,
		fstest.MapFS{"00001_init.sql": {Data: v1}}, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	if _, err := db.ExecContext(t.Context(),
		`INSERT INTO settings VALUES (1, 60000, 1, '["example.com"]')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, path)
	settings, err := s.Settings().Get(t.Context())
	if err != nil {
		t.Fatalf("Settings.Get after upgrade: %v", err)
	}
	wantSettings := store.Settings{SubscriptionTTL: time.Minute, AllowlistEnabled: true, AllowlistDomains: []string{"example.com"}}
	if diff := cmp.Diff(wantSettings, settings); diff != "" {
		t.Errorf("settings after upgrade (-want +got):\n%s", diff)
	}
	a := store.AdminAccount{Name: "admin", Hash: "$argon2id$x", CreatedAt: time.UnixMilli(1).UTC(), UpdatedAt: time.UnixMilli(1).UTC()}
	if err := s.AdminAccounts().Create(t.Context(), a); err != nil {
		t.Fatalf("AdminAccounts.Create after upgrade: %v", err)
	}
	if _, err := s.Audit().Append(t.Context(), store.AuditEntry{Actor: "admin", Action: "account.create"}); err != nil {
		t.Fatalf("Audit.Append after upgrade: %v", err)
	}
}
