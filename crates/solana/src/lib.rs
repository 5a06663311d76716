//! The x402 `exact` scheme on Solana: strict verification of a client's partially signed SPL
//! `TransferChecked`, co-signing as the fee payer, simulation with signature checks, and
//! settlement with bounded confirmation. The payer's signing lives here too ([`sign_payment`]),
//! so both sides share one definition of the layout.

pub mod chain;
pub mod check;
pub mod exact;
pub mod keys;
pub mod payer;
pub mod programs;
mod sign;

pub use chain::{ChainError, ClusterName, SolanaChain, network_of_genesis};
pub use check::{Expected, Limits, Transfer};
pub use exact::{ExactSvm, decode_transaction};
pub use payer::PaymentOrder;
pub use sign::{MintBook, SignError, SignedPayment, sign_payment};
pub use solana_keypair::Keypair;
pub use solana_pubkey::Pubkey;
pub use solana_signer::Signer;
