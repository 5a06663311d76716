//! What payer and facilitator check of an `exact` EVM payment the same way: the validity buffer
//! and a signature's recovery; the readers of addresses, hex and payloads they share come from
//! `tollgate-payload`. It depends on no other module of this crate, so every transfer method
//! can share it.

use alloy::primitives::{Address, B256, Signature, U256};

pub(crate) use tollgate_payload::evm::TransferMethod;
pub(crate) use tollgate_payload::read::{object, parse_address, parse_hex, requirement_address};
pub(crate) use tollgate_proto::clock::unix_now;

/// Seconds a validBefore / deadline must lie ahead so the transfer can still be mined.
pub const VALID_BEFORE_BUFFER_SECS: u64 = 6;

/// Half the secp256k1 order: signatures with a higher `s` are malleable and tokens refuse them.
const SECP256K1N_HALF: U256 = U256::from_limbs([
    0xDFE92F46681B20A0,
    0x5D576E7357A4501D,
    0xFFFFFFFFFFFFFFFF,
    0x7FFFFFFFFFFFFFFF,
]);

/// Checks a 65-byte signature locally; `true` when it recovers to `from` with a low `s`.
pub(crate) fn ecdsa_matches(sig: &[u8], hash: &B256, from: Address) -> bool {
    let Ok(sig) = Signature::try_from(sig) else {
        return false;
    };
    if sig.s() > SECP256K1N_HALF {
        return false;
    }
    sig.recover_address_from_prehash(hash)
        .is_ok_and(|a| a == from)
}
