//! The settlement ledger: a payment is claimed before broadcast and its result recorded after,
//! so it is broadcast at most once and never lost across a crash.
//!
//! SQLite is the embedded default; PostgreSQL (`postgres://`) is the shared store for several
//! facilitator instances. Both run the same SQL through sqlx's `Any` driver.

mod gateway;
mod holds;
mod lease;
mod ledger;
mod pending;
mod pool;
mod replaced;

pub use gateway::{GatewayStore, MAX_ANSWER_BYTES, RecordedAnswer};
pub use holds::{Grant, Spent};
pub use ledger::{Claim, Intent, Ledger, SettlementRecord, SettlementState, StoreError};
pub use pending::{MAX_SETTLE_BODY_BYTES, PendingBundle};
pub use replaced::ReplacedTx;

mod receipts;

pub use receipts::{NewReceipt, ReceiptRow, ReceiptStore};
