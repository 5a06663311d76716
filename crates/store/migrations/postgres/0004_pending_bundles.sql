-- Bundles issued on a settlement that was still pending: the exact /settle body is kept so the
-- gateway can ask the facilitator again until the settlement is final, and revoke the bundle if
-- it failed. next_check_at is also a claim: an instance bumps it before checking a row, so two
-- instances never check one row at once.
CREATE TABLE pending_bundles (
    receipt_id    TEXT PRIMARY KEY,
    settle_body   BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    next_check_at BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pending_bundles_due ON pending_bundles (next_check_at);
-- Set when the payment behind a receipt failed: the receipt serves nothing more.
ALTER TABLE receipts ADD COLUMN revoked_at BIGINT;
