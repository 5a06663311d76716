-- One row per paid bundle: who paid, which routes it unlocks, and the calls still unspent.
-- calls_left NULL means unlimited calls until expires_at (a time-window bundle).
-- last_grant holds how many calls the latest take granted (read back through RETURNING).
CREATE TABLE receipts (
    id          TEXT PRIMARY KEY,
    payer       TEXT NOT NULL,
    routes      TEXT NOT NULL,
    calls_total BIGINT,
    calls_left  BIGINT,
    last_grant  BIGINT NOT NULL DEFAULT 0,
    expires_at  BIGINT NOT NULL,
    payment_tx  TEXT,
    created_at  BIGINT NOT NULL
);
