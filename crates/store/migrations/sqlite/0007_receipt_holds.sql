-- Calls of a counted receipt that one gateway instance took from calls_left and has not served
-- yet. A served call is taken off its hold before its answer leaves the gateway, so these rows
-- are exact: an instance that stops gives its holds back, and the calls of an instance that
-- died return to calls_left once its hold expires.
CREATE TABLE receipt_holds (
    receipt_id TEXT NOT NULL,
    holder     TEXT NOT NULL,
    calls      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (receipt_id, holder)
);
CREATE INDEX receipt_holds_holder ON receipt_holds (holder);
CREATE INDEX receipt_holds_expires ON receipt_holds (expires_at);
-- Every instance reads the revocations of the last few seconds.
CREATE INDEX receipts_revoked_at ON receipts (revoked_at);
