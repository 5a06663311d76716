//! Chain-neutral results of verifying and settling, shared by every scheme and the facilitator.

use alloy_primitives::U256;

/// A payment refused, with its x402 reason string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub message: Option<String>,
    pub payer: Option<String>,
}

impl Rejection {
    /// A refusal with only a reason.
    pub fn new(reason: &'static str) -> Self {
        Self {
            reason,
            message: None,
            payer: None,
        }
    }

    /// Adds a human-readable detail.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Names the payer, when it is known.
    pub fn with_payer(mut self, payer: impl Into<String>) -> Self {
        self.payer = Some(payer.into());
        self
    }
}

/// Which request a payment is checked for: the requirements of an `upto` payment name its
/// maximum at `/verify` and the actual charge at `/settle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Verify,
    Settle,
}

/// A payment that passed every check and is ready to be settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The payment's identity in the ledger: one identity, one broadcast.
    pub identity: String,
    /// Who pays (the token owner, never the fee payer).
    pub payer: String,
    /// Atomic amount that moves.
    pub amount: U256,
    /// The contract or program the settlement calls.
    pub target: String,
    /// What to submit: calldata on EVM, the transaction co-signed by the fee payer on Solana.
    pub data: Vec<u8>,
    /// The facilitator signer that must send it (an `upto` payment names one); any when `None`.
    pub signer: Option<String>,
}

/// A settlement transaction signed by the facilitator, recorded before broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// Transaction hash (EVM, 0x-hex) or signature (Solana, base58).
    pub hash: String,
    /// The exact bytes to broadcast; rebroadcasting them can never pay twice.
    pub raw: Vec<u8>,
}

/// What the node said to a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broadcast {
    /// The node took it (or already had it).
    Accepted,
    /// The node refused it; it can never land.
    Rejected(String),
    /// No clear answer: it may or may not be in the node's pool.
    Unknown(String),
}
