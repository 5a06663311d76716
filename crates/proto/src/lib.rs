//! x402 wire types, header codec, networks and exact token amounts.
//!
//! Pure data: no I/O and no async, so every other crate can share one definition of the protocol.

pub mod amount;
pub mod clock;
pub mod codec;
pub mod headers;
pub mod money;
pub mod network;
pub mod outcome;
pub mod payment_id;
pub mod reason;
pub mod request;
pub mod rpc;
pub mod settlement;
pub mod strict;
pub mod usdc;
pub mod v1;
pub mod v2;

pub use alloy_primitives::U256;
pub use amount::{AmountError, TokenAmount, parse_atomic};
pub use network::{Network, NetworkFamily, Networks};
pub use outcome::{Broadcast, Phase, Rejection, SignedTx, Verified};
pub use request::{FacilitatorRequest, PaymentView, RequestError, RequirementsView};
pub use settlement::{SETTLEMENT_STATE, SettlementState, Standing};
