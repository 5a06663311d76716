//! The `upto` payload: a Permit2 witness transfer of at most `permitted.amount` to the x402
//! upto proxy, whose witness also names the one facilitator that may settle it, for any
//! amount up to that maximum.

use alloy_primitives::Address;
use tollgate_proto::Rejection;
use tollgate_proto::v2::Object;

use crate::permit2::{self, Permit2Authorization};
use crate::read::{Signed, bad_payload};

/// An `upto` authorization: a Permit2 witness transfer whose `amount` is the maximum, and the
/// facilitator its witness names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UptoAuthorization {
    pub permit: Permit2Authorization,
    /// Witness: the only address the proxy lets settle this payment.
    pub facilitator: Address,
}

impl UptoAuthorization {
    /// The x402 `payload` object for this authorization and its signature.
    pub fn to_payload(&self, signature: &[u8]) -> Object {
        let mut payload = self.permit.to_payload(signature);
        let witness = &mut payload["permit2Authorization"]["witness"];
        witness["facilitator"] = self.facilitator.to_checksum(None).into();
        payload
    }
}

/// Reads an `upto` payload strictly: a Permit2 payload whose witness names a facilitator.
pub fn parse_payload(payload: &Object) -> Result<Signed<UptoAuthorization>, Rejection> {
    match permit2::parse_witnessed(payload)? {
        (Signed { auth, signature }, Some(facilitator)) => Ok(Signed {
            auth: UptoAuthorization {
                permit: auth,
                facilitator,
            },
            signature,
        }),
        (_, None) => Err(bad_payload(
            "permit2Authorization.witness.facilitator: missing (upto pins its facilitator)",
        )),
    }
}

/// The ledger identity of an `upto` payment: its Permit2 nonce, which it shares with `exact`
/// Permit2 payments (one nonce moves tokens once, through whichever proxy).
pub fn identity(network: &str, token: Address, auth: &UptoAuthorization) -> String {
    permit2::identity(network, token, &auth.permit)
}

#[cfg(test)]
mod tests {
    use alloy_primitives::U256;

    use super::*;

    fn auth() -> UptoAuthorization {
        UptoAuthorization {
            permit: Permit2Authorization {
                from: Address::repeat_byte(1),
                token: Address::repeat_byte(2),
                amount: U256::from(10u64).pow(U256::from(20u8)),
                spender: Address::repeat_byte(3),
                nonce: U256::MAX,
                deadline: U256::from(2_000_000_000u64),
                to: Address::repeat_byte(4),
                valid_after: U256::ZERO,
            },
            facilitator: Address::repeat_byte(5),
        }
    }

    #[test]
    fn upto_and_exact_payloads_are_told_apart_by_the_facilitator_they_name() {
        let upto = auth();
        let payload = upto.to_payload(&[7u8; 65]);
        let read = parse_payload(&payload).unwrap();
        assert_eq!((read.auth, read.signature), (upto.clone(), vec![7u8; 65]));
        let exact = permit2::parse_payload(&payload).unwrap_err();
        assert!(format!("{exact:?}").contains("facilitator"), "{exact:?}");

        let plain = upto.permit.to_payload(&[7u8; 65]);
        assert!(parse_payload(&plain).is_err(), "upto needs its facilitator");
        assert_eq!(permit2::parse_payload(&plain).unwrap().auth, upto.permit);
    }
}
