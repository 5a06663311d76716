-- In-flight leases: one row while a gateway instance verifies, serves and settles a payment, so
-- copies of it sent to any instance wait their turn; a crashed holder's row expires.
CREATE TABLE inflight (
    id         TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
-- The answer given to a paid call that carried a payment-identifier, replayed to an honest retry
-- of the same payment (same identity and payload) instead of charging or refusing it.
CREATE TABLE answers (
    payment_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status     INTEGER NOT NULL,
    headers    TEXT NOT NULL,
    body       BLOB NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX answers_expiry ON answers (expires_at);
