-- Configuration saved in the dashboard's backend page (issue 7).

-- +goose Up
CREATE TABLE saved_config (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    vals          TEXT    NOT NULL, -- JSON object: config key path -> raw value
    updated_at_ms INTEGER NOT NULL,
    updated_by    TEXT    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE saved_config;
