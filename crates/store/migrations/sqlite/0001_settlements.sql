-- One row per payment identity: the intent before broadcast, the result after.
CREATE TABLE settlements (
    id           TEXT PRIMARY KEY,
    network      TEXT NOT NULL,
    scheme       TEXT NOT NULL,
    payer        TEXT NOT NULL,
    amount       TEXT NOT NULL,
    state        TEXT NOT NULL,
    tx_hash      TEXT,
    raw_tx       BLOB,
    error_reason TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX settlements_state ON settlements (state);
