// Package sqlite is the embedded store.Store: one SQLite database file
// (modernc.org/sqlite, pure Go) in WAL mode, its schema kept by goose
// migrations embedded in the binary.
//
// Writes go through a single connection, in order, each write transaction
// taking the write lock at BEGIN (BEGIN IMMEDIATE), so they never meet
// SQLITE_BUSY from each other; busy_timeout covers another process (such
// as `presenced token create`) writing the same file. Reads use a small
// pool of read-only connections, which WAL lets run beside the writer.
//
// Times are kept as unix milliseconds and durations as milliseconds:
// values round-trip at millisecond precision, times come back in UTC.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/presenced/presenced/internal/store"
)

const (
	// busyTimeout is how long a connection waits for a lock held by
	// another process before failing with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// readers is the size of the read-only connection pool.
	readers = 4
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is a store.Store on one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	write *sql.DB // exactly one connection; every write goes through it
	read  *sql.DB // read-only (mode=ro, query_only) pool of readers
}

var _ store.Store = (*Store)(nil)

// Open opens the database at path, creating its parent directories (mode
// 0700) and the file (mode 0600) when missing, and migrates the schema to
// the newest version. An existing file keeps its mode. logger receives the
// migration log; nil discards it. ctx bounds the opening and migration
// only, not the returned Store.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}

	write, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", abs, err)
	}
	// One connection that is never closed while the store is open: it
	// serialises the writes and keeps the WAL index alive for the readers.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := migrate(ctx, write, logger); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", abs, err), write.Close())
	}

	// The readers open after the migration: mode=ro cannot create the
	// schema or switch the file to WAL.
	read, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", abs, err), write.Close())
	}
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	if err := read.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: readers: %w", abs, err), read.Close(), write.Close())
	}
	logger.Debug("store opened", "path", abs)
	return &Store{write: write, read: read}, nil
}

// createFile creates the directories above path (0700) and the empty
// database file (0600) so that SQLite, which would create it with the
// umask's mode, finds it in place. SQLite gives its -wal and -shm files
// the database file's mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return nil
}

// dsn returns the driver name of the database at the absolute path. The
// pragmas are DSN parameters so that the driver applies them to every
// connection it opens, not only the first.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	// A file: URI hands mode=ro to SQLite itself; Path is escaped so that
	// '?', '#' and '%' in a directory name stay part of the path.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// migrate brings the schema to the newest embedded migration.
func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, files,
		goose.WithSlog(logger), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// p.Close would close db: the provider is simply dropped.
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the readers, then the writer, whose close checkpoints the
// WAL into the database file.
func (s *Store) Close() error {
	var errs []error
	if err := s.read.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close sqlite store readers: %w", err))
	}
	if err := s.write.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close sqlite store writer: %w", err))
	}
	return errors.Join(errs...)
}

// Settings returns the settings record.
func (s *Store) Settings() store.SettingsStore { return settingsStore{s} }

// Tokens returns the API tokens.
func (s *Store) Tokens() store.TokenStore { return tokenStore{s} }

// Subscriptions returns the client subscriptions.
func (s *Store) Subscriptions() store.SubscriptionStore { return subscriptionStore{s} }

// Hints returns the undelivered push hints.
func (s *Store) Hints() store.HintStore { return hintStore{s} }

// AdminAccounts returns the local admin accounts.
func (s *Store) AdminAccounts() store.AdminAccountStore { return adminAccountStore{s} }

// Audit returns the audit log of admin changes.
func (s *Store) Audit() store.AuditStore { return auditStore{s} }

// Config returns the configuration saved in the dashboard.
func (s *Store) Config() store.ConfigStore { return configStore{s} }

// isUniqueViolation reports whether err is SQLite refusing a row whose
// primary key or UNIQUE columns another row already has.
func isUniqueViolation(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// inTx runs f in a write transaction on the single writer connection and
// commits it, or rolls it back when f fails.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ignoreDone drops the error of rolling back a transaction that a
// cancelled context already rolled back.
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// millis and fromMillis convert times to and from their stored form.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// durationMillis and fromDurationMillis convert durations to and from
// their stored form.
func durationMillis(d time.Duration) int64 { return d.Milliseconds() }

func fromDurationMillis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
