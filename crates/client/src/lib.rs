//! The paying side of x402: an HTTP client that answers 402 challenges by signing a payment,
//! but only within a [`SpendPolicy`] checked before anything is signed.

mod challenge;
mod client;
mod policy;
mod receipts;
mod spending;
mod svm_wallet;
mod wallet;

pub use challenge::{Challenge, ChallengeError, Offer, read_challenge};
pub use client::{ClientError, PaidResponse, PayingClient, PaymentMade};
pub use policy::{AssetBook, AssetInfo, AssetKey, PolicyError, SpendPolicy};
pub use receipts::{RECEIPT_HEADER, ReceiptBook};
pub use spending::Spending;
pub use svm_wallet::SvmWallet;
pub use wallet::{EvmWallet, WalletError};
