-- The initial schema. Times are unix milliseconds (UTC), durations are
-- milliseconds, lists are JSON arrays of strings.

-- +goose Up
CREATE TABLE settings (
    id                  INTEGER PRIMARY KEY CHECK (id = 1), -- a single row
    subscription_ttl_ms INTEGER NOT NULL,
    allowlist_enabled   INTEGER NOT NULL CHECK (allowlist_enabled IN (0, 1)),
    allowlist_domains   TEXT    NOT NULL
) STRICT;

CREATE TABLE tokens (
    hash          BLOB    PRIMARY KEY CHECK (length(hash) = 32), -- SHA-256 of the secret
    kind          TEXT    NOT NULL,
    user_email    TEXT    NOT NULL, -- empty for admin tokens
    created_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE subscriptions (
    id            TEXT    PRIMARY KEY,
    user_email    TEXT    NOT NULL,
    sub_key       TEXT    NOT NULL,
    ttl_ms        INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    sequence      INTEGER NOT NULL, -- the uint64 bit pattern as a signed integer
    push_token    TEXT    NOT NULL,
    contacts      TEXT    NOT NULL,
    UNIQUE (user_email, sub_key)
) STRICT;

-- No foreign key to subscriptions: a hint outlives the subscription state
-- that produced it (see store.HintStore).
CREATE TABLE push_hints (
    subscription_id TEXT    PRIMARY KEY,
    body            BLOB    NOT NULL,
    created_at_ms   INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE push_hints;
DROP TABLE subscriptions;
DROP TABLE tokens;
DROP TABLE settings;
