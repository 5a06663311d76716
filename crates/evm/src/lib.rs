//! x402 `exact` on EVM chains: EIP-3009 verification and signing, and the settlement path
//! (signer pool, nonce manager, fee cache, bounded receipt wait) that every EVM scheme shares.

pub mod chain;
pub mod contracts;
pub mod eip3009;
mod nonce;
mod receipts;

pub use chain::{ChainConfig, EvmChain, EvmError};
pub use eip3009::{Eip3009Authorization, ExactEvm, sign_eip3009};
