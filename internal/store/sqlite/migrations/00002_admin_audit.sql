-- Local admin accounts and the audit log of admin changes (issue 7).

-- +goose Up
-- NOCASE folds ASCII letters only, which is all an account name may hold.
CREATE TABLE admin_accounts (
    name          TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE CHECK (name <> ''),
    hash          TEXT    NOT NULL CHECK (hash <> ''), -- PHC string
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: an id is never handed out twice, even after the newest
-- rows were removed outside presenced.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    before    TEXT    NOT NULL, -- JSON text; empty for none
    after     TEXT    NOT NULL, -- JSON text; empty for none
    remote    TEXT    NOT NULL
) STRICT;

-- Every index ends with the rowid (id), so this one also serves
-- "WHERE actor = ? AND id < ? ORDER BY id DESC".
CREATE INDEX audit_log_actor ON audit_log (actor);

-- The log is append-only for presenced too, not only by its API.
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
-- +goose StatementEnd

-- INSERT OR REPLACE removes the row it replaces without firing the DELETE
-- trigger: refuse an insert that names an existing id.
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_log_no_replace;
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP INDEX audit_log_actor;
DROP TABLE audit_log;
DROP TABLE admin_accounts;
