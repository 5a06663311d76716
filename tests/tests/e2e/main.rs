//! End-to-end tests across crates, against a real anvil, SQLite and PostgreSQL: one binary, so
//! the workspace links them once.

mod client_budget;
mod client_interop;
mod client_pays;
mod evm_exact;
mod evm_permit2;
mod evm_resend;
mod evm_settlement;
mod evm_upto;
mod facilitator_doors;
mod gateway_attacks;
mod gateway_challenge;
mod gateway_interop;
mod gateway_key_rotation;
mod gateway_lost_settle;
mod gateway_neighbours;
mod gateway_paid;
mod gateway_receipts;
mod gateway_revoke;
mod gateway_upto;
mod interop_sdk;
mod interop_upto;
mod ledger;
mod nonce_gaps;
mod rpc_faults;
mod settle_cancel;
mod signer_rotation;
