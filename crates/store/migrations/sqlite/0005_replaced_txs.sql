-- Transactions a fee bump replaced (same nonce, higher fee). Any one of a settlement's
-- transactions may be the one mined, so each is kept until the settlement is final.
CREATE TABLE replaced_txs (
    tx_hash       TEXT PRIMARY KEY,
    settlement_id TEXT NOT NULL,
    raw_tx        BLOB NOT NULL,
    replaced_at   INTEGER NOT NULL
);
CREATE INDEX replaced_txs_settlement ON replaced_txs (settlement_id);
