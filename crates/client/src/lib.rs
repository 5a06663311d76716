//! The paying side of x402: an HTTP client that answers 402 challenges by signing a payment,
//! but only within a [`SpendPolicy`] checked before anything is signed, and that keeps every
//! signed payment counted against its budget until it is paid or proven unspent on chain.

mod challenge;
mod client;
mod evm_check;
mod headers;
mod outstanding;
mod policy;
mod receipts;
mod reconcile;
mod spending;
mod spending_file;
mod svm_check;
mod svm_wallet;
mod wallet;

pub use challenge::{Challenge, ChallengeError, Offer, read_challenge};
pub use client::{ClientError, PaidResponse, PayingClient, PaymentMade};
pub use outstanding::{Outstanding, Proof, Signed, Verdict};
pub use policy::{
    AssetBook, AssetInfo, AssetKey, DEFAULT_MAX_TIMEOUT_SECS, PolicyError, SpendPolicy,
};
pub use receipts::ReceiptBook;
pub use spending::{Spending, SpendingError};
pub use svm_wallet::SvmWallet;
pub use wallet::{EvmWallet, WalletError};
