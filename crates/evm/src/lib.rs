//! x402 `exact` on EVM chains: EIP-3009 (USDC) and Permit2 (any ERC-20, with optional EIP-2612
//! gas sponsoring) verification and signing, and the settlement path (signer pool, nonce
//! manager, fee cache, bounded receipt wait) that every EVM scheme shares.

pub mod chain;
pub mod contracts;
pub mod eip2612;
pub mod eip3009;
pub mod exact;
mod landing;
mod nonce;
pub mod permit2;
mod replace;
mod rotation;
pub mod rpc;
mod signers;

pub use chain::{ChainConfig, EvmChain, EvmError};
pub use eip2612::{Eip2612Permit, sign_eip2612_permit};
pub use eip3009::{Eip3009Authorization, sign_eip3009, token_domain};
pub use exact::{EIP2612_GAS_SPONSORING, ExactEvm};
pub use permit2::{
    EXACT_PERMIT2_PROXY, PERMIT2, Permit2Authorization, permit2_domain, sign_permit2,
};
pub use replace::fee_too_low;
pub use rotation::{SignerChange, SignerStatus};
pub use rpc::{DEFAULT_RPC_TIMEOUT, error_text};
