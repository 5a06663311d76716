//! What a payment payload says, read strictly and without any RPC: the EVM authorizations
//! (EIP-3009, Permit2, `upto`'s Permit2) and the Solana transaction of an `exact` payment, and the identity the
//! settlement ledger names a payment by. The facilitator's ledger and the gateway's in-flight
//! lease must agree on that identity however a payload's JSON was spelled, so both read it here;
//! a gateway talking to a remote facilitator needs no chain client for it.

pub mod eip3009;
pub mod evm;
pub mod permit2;
pub mod read;
pub mod svm;
pub mod upto;

use tollgate_proto::{NetworkFamily, PaymentView, Rejection};

/// The ledger identity of a payment, computed from its strictly parsed payload.
pub fn payment_identity(view: &PaymentView<'_>) -> Result<String, Rejection> {
    match view.requirements.network.family() {
        NetworkFamily::Evm(_) => evm::payment_identity(view),
        NetworkFamily::Solana(_) => svm::payment_identity(view),
    }
}
