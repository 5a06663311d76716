//! x402 on EVM chains: `exact` through EIP-3009 (USDC) and Permit2 (any ERC-20, with optional
//! EIP-2612 gas sponsoring), and `upto` through Permit2; verification and signing, and the
//! settlement path (signer pool, nonce manager, fee cache, bounded receipt wait) that every EVM
//! scheme shares.
//!
//! Modules depend only downwards, so each can be read after the ones it names:
//! `contracts`, `wire`, `error`, `nonce`, `landing` name no other module; `rpc` → `error`;
//! `config` → `rpc`; `signers` → `nonce`; `chain` → those; `send`, `replace`, `rotation` extend
//! `chain`. The transfer methods `eip3009`, `eip2612`, `permit2` → `contracts`, `wire`;
//! `upto` → `permit2`; `verify` checks them against `chain`; `payments` dispatches to `verify`;
//! `sign` is the payer's entry point over the methods. `scripts/module-cycles.py` checks it.

pub mod chain;
mod config;
pub mod contracts;
pub mod eip2612;
pub mod eip3009;
mod error;
mod fillers;
mod gaps;
mod landing;
mod nonce;
pub mod payments;
pub mod permit2;
mod replace;
mod rotation;
pub mod rpc;
mod send;
mod sign;
mod signers;
pub mod upto;
mod verify;
mod wire;

pub use chain::EvmChain;
pub use config::ChainConfig;
pub use contracts::{EXACT_PERMIT2_PROXY, PERMIT2, UPTO_PERMIT2_PROXY};
pub use eip2612::{EIP2612_GAS_SPONSORING, Eip2612Permit, sign_eip2612_permit};
pub use eip3009::{Eip3009Authorization, sign_eip3009, token_domain};
pub use error::{EvmError, error_text};
pub use payments::EvmPayments;
pub use permit2::{Permit2Authorization, permit2_domain, sign_permit2};
pub use replace::fee_too_low;
pub use rotation::{SignerChange, SignerStatus};
pub use rpc::DEFAULT_RPC_TIMEOUT;
pub use sign::{Authorization, SignError, SignedPayment, Validity, sign_payment};
pub use upto::{UptoAuthorization, sign_upto};
