//! `exact` on EVM: one scheme, two transfer methods. The payload's shape picks the method
//! (`permit2Authorization` → Permit2, `authorization` → EIP-3009), and it must agree with the
//! seller's `extra.assetTransferMethod`. Shared parsing and RPC helpers live here.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::TransactionRequest;
use tollgate_proto::v2::Object;
use tollgate_proto::{PaymentView, Rejection, Verified, reason};

use crate::chain::EvmChain;
use crate::rpc::error_text;
use crate::{eip3009, permit2};

/// Seconds a validBefore / deadline must lie ahead so the transfer can still be mined.
pub const VALID_BEFORE_BUFFER_SECS: u64 = 6;

/// Name of the extension that lets a payer's EIP-2612 permit stand in for a Permit2 approval.
pub const EIP2612_GAS_SPONSORING: &str = "eip2612GasSponsoring";

/// Half the secp256k1 order: signatures with a higher `s` are malleable and tokens refuse them.
const SECP256K1N_HALF: U256 = U256::from_limbs([
    0xDFE92F46681B20A0,
    0x5D576E7357A4501D,
    0xFFFFFFFFFFFFFFFF,
    0x7FFFFFFFFFFFFFFF,
]);

/// Longest signature accepted (ERC-1271/6492 wallets send more than 65 bytes, but not kilobytes).
pub(crate) const MAX_SIGNATURE_BYTES: usize = 4096;

/// The transfer method a payment uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Eip3009,
    Permit2,
}

/// Picks the method from the payload's shape and checks the seller asked for it.
fn method(view: &PaymentView<'_>) -> Result<Method, Rejection> {
    let shape = if view.payload.contains_key("permit2Authorization") {
        Method::Permit2
    } else {
        Method::Eip3009
    };
    let asked = match view.requirements.extra_str("assetTransferMethod") {
        None | Some("eip3009") => Method::Eip3009,
        Some("permit2") => Method::Permit2,
        Some(other) => {
            return Err(Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE)
                .with_message(format!("assetTransferMethod {other:?} is not served")));
        }
    };
    // The reference dispatches on shape alone; a Permit2 payload for a requirement that names
    // no method is accepted like it does, but a stated method must match.
    let explicit = view.requirements.extra_str("assetTransferMethod").is_some();
    if shape != asked && (explicit || shape == Method::Eip3009) {
        return Err(
            Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE).with_message(format!(
                "payload is {shape:?} but the requirement asks for {asked:?}"
            )),
        );
    }
    Ok(shape)
}

/// The ledger identity of an `exact` EVM payment (chain, token, payer, nonce), computed from the
/// strictly parsed payload without any RPC: the facilitator's ledger and the gateway's in-flight
/// lease both name a payment by this, however its JSON was spelled.
pub fn payment_identity(view: &PaymentView<'_>) -> Result<String, Rejection> {
    let net = view.requirements.network.caip2();
    let token = requirement_address(view.requirements.asset, "asset")?;
    match method(view)? {
        Method::Eip3009 => eip3009::identity_of(net, token, view.payload),
        Method::Permit2 => permit2::identity_of(net, token, view.payload),
    }
}

/// The `exact` scheme on one EVM chain.
pub struct ExactEvm {
    chain: Arc<EvmChain>,
    /// Assets already seen to have contract code; code does not vanish, so one look suffices.
    deployed: RwLock<HashSet<Address>>,
}

impl ExactEvm {
    /// Serves `exact` payments on `chain`; Permit2 only if the chain had its contracts at connect.
    pub fn new(chain: Arc<EvmChain>) -> Self {
        Self {
            chain,
            deployed: RwLock::new(HashSet::new()),
        }
    }

    /// The chain this scheme settles on.
    pub fn chain(&self) -> &Arc<EvmChain> {
        &self.chain
    }

    /// Whether Permit2 payments are accepted (and so advertised).
    pub fn permit2_enabled(&self) -> bool {
        self.chain.permit2_deployed()
    }

    /// The payload extensions this scheme honours, for `/supported`.
    pub fn extensions(&self) -> Vec<String> {
        if self.chain.eip2612_gas_sponsoring() {
            vec![EIP2612_GAS_SPONSORING.to_string()]
        } else {
            Vec::new()
        }
    }

    /// The payment's ledger identity, read without any RPC.
    pub fn identity(&self, view: &PaymentView<'_>) -> Result<String, Rejection> {
        payment_identity(view)
    }

    /// Verifies in the reference order; a valid payment costs exactly one RPC round trip.
    pub async fn verify(&self, view: &PaymentView<'_>) -> Result<Verified, Rejection> {
        match method(view)? {
            Method::Eip3009 => eip3009::verify(self, view).await,
            Method::Permit2 => permit2::verify(self, view).await,
        }
    }

    /// Whether `who` has contract code (a smart wallet may sign in ways only simulation judges).
    pub(crate) async fn has_code(&self, who: Address) -> Result<bool, Rejection> {
        let code = self.chain.provider().get_code_at(who).await.map_err(|e| {
            Rejection::new(reason::UNEXPECTED_VERIFY_ERROR)
                .with_message(format!("rpc: {}", error_text(&e)))
        })?;
        Ok(!code.is_empty())
    }

    /// Whether a signature can stand without the chain's say: a low-`s` ECDSA signature that
    /// recovers to `from`, or any signature from an address with code (ERC-1271 wallets, judged
    /// in simulation). Only checked on refusals; a valid payment's signature is proven on chain.
    pub(crate) async fn signature_vouched(
        &self,
        signature: &[u8],
        digest: &B256,
        from: Address,
    ) -> Result<bool, Rejection> {
        if signature.len() == 65 && ecdsa_matches(signature, digest, from) {
            return Ok(true);
        }
        self.has_code(from).await
    }

    /// Refuses an asset without code: a call to it would "succeed" and move nothing.
    pub(crate) async fn ensure_deployed(&self, token: Address) -> Result<(), Rejection> {
        if self
            .deployed
            .read()
            .expect("lock poisoned")
            .contains(&token)
        {
            return Ok(());
        }
        if !self.has_code(token).await? {
            return Err(Rejection::new(reason::ASSET_NOT_DEPLOYED)
                .with_message(format!("{token} has no code")));
        }
        self.deployed.write().expect("lock poisoned").insert(token);
        Ok(())
    }

    /// Runs `eth_call`s in one batched round trip; `None` if the batch itself failed.
    pub(crate) async fn batch_calls(
        &self,
        calls: Vec<(Address, Bytes)>,
    ) -> Option<Vec<Option<Bytes>>> {
        let mut batch = BatchRequest::new(self.chain.provider().client());
        let mut waiters = Vec::new();
        for (to, data) in calls {
            let tx = TransactionRequest::default().to(to).input(data.into());
            waiters.push(batch.add_call::<_, Bytes>("eth_call", &(tx,)).ok()?);
        }
        batch.send().await.ok()?;
        let mut out = Vec::new();
        for w in waiters {
            out.push(w.await.ok());
        }
        Some(out)
    }

    /// Batched `eth_getCode` plus `eth_call`s in one round trip, for diagnostics.
    pub(crate) async fn batch_code_and_calls(
        &self,
        code_of: Address,
        calls: Vec<(Address, Bytes)>,
    ) -> Option<(Option<Bytes>, Vec<Option<Bytes>>)> {
        let mut batch = BatchRequest::new(self.chain.provider().client());
        let code = batch
            .add_call::<_, Bytes>("eth_getCode", &(code_of, "latest"))
            .ok()?;
        let mut waiters = Vec::new();
        for (to, data) in calls {
            let tx = TransactionRequest::default().to(to).input(data.into());
            waiters.push(batch.add_call::<_, Bytes>("eth_call", &(tx,)).ok()?);
        }
        batch.send().await.ok()?;
        let code = code.await.ok();
        let mut out = Vec::new();
        for w in waiters {
            out.push(w.await.ok());
        }
        Some((code, out))
    }
}

/// An `invalid_payload` refusal naming the field.
pub(crate) fn bad_payload(msg: impl Into<String>) -> Rejection {
    Rejection::new(reason::INVALID_PAYLOAD).with_message(msg)
}

/// Parses an address of the requirements (`asset`, `payTo`).
pub(crate) fn requirement_address(s: &str, what: &str) -> Result<Address, Rejection> {
    parse_address(s, what)
        .map_err(|m| Rejection::new(reason::INVALID_PAYMENT_REQUIREMENTS).with_message(m))
}

/// Parses a 0x-prefixed 20-byte address.
pub(crate) fn parse_address(s: &str, what: &str) -> Result<Address, String> {
    if s.len() != 42 || !s.starts_with("0x") {
        return Err(format!("{what}: not a 0x-prefixed 20-byte address"));
    }
    s.parse().map_err(|_| format!("{what}: not a hex address"))
}

/// Parses 0x-prefixed hex of at most `max` bytes.
pub(crate) fn parse_hex(s: &str, what: &str, max: usize) -> Result<Vec<u8>, String> {
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("{what}: missing 0x prefix"))?;
    if digits.len() > max * 2 {
        return Err(format!("{what}: longer than {max} bytes"));
    }
    alloy::hex::decode(digits).map_err(|_| format!("{what}: not hex"))
}

pub(crate) use tollgate_proto::clock::unix_now;

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

/// A JSON object from a `json!` literal known to be one.
pub(crate) fn object(v: serde_json::Value) -> Object {
    match v {
        serde_json::Value::Object(o) => o,
        _ => unreachable!("json! object"),
    }
}
