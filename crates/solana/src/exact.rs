//! `exact` on SVM: decode the client's partially signed transaction, apply every rule of the
//! scheme, co-sign as the fee payer and simulate with signature verification on. A valid
//! payment costs one RPC round trip (the simulation).

use std::sync::Arc;

use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use tollgate_payload::svm::{identity as identity_of, payload_transaction};
use tollgate_proto::{Broadcast, PaymentView, Phase, Rejection, SignedTx, U256, Verified, reason};

use crate::chain::{ChainError, SolanaChain};
use crate::check::{Expected, Limits, check_message};

pub use tollgate_payload::svm::{MAX_TRANSACTION_BYTES, decode_transaction, payment_identity};

/// Longest `extra.memo` the scheme allows.
pub const MAX_MEMO_BYTES: usize = 256;

/// The `exact` scheme on one Solana cluster.
pub struct ExactSvm {
    chain: Arc<SolanaChain>,
    limits: Limits,
}

/// A payment decoded far enough to name it in the ledger.
struct Decoded {
    tx: VersionedTransaction,
    fee_payer: Pubkey,
    identity: String,
}

impl ExactSvm {
    /// Serves `exact` on `chain`, paying fees only within `limits`.
    pub fn new(chain: Arc<SolanaChain>, limits: Limits) -> Self {
        Self { chain, limits }
    }

    /// The cluster this scheme settles on.
    pub fn chain(&self) -> &Arc<SolanaChain> {
        &self.chain
    }

    /// The ledger identity ([`payment_identity`]), after this cluster's own checks.
    pub fn identity(&self, view: &PaymentView<'_>) -> Result<String, Rejection> {
        self.decode(view).map(|d| d.identity)
    }

    /// Verifies in the reference order, then co-signs and simulates with `sigVerify`; `exact`
    /// checks the same in either phase.
    pub async fn verify(&self, view: &PaymentView<'_>, _: Phase) -> Result<Verified, Rejection> {
        let Decoded {
            tx,
            fee_payer,
            identity,
        } = self.decode(view)?;
        let expected = expected_of(view)?;
        let transfer = check_message(
            &tx.message,
            &expected,
            |k| self.chain.fee_payer(k).is_some(),
            &self.limits,
        )?;
        let payer = transfer.authority.to_string();
        let signed = self.cosign(tx, &fee_payer)?;
        match self.chain.simulate(&signed).await {
            Ok(Ok(())) => Ok(Verified {
                signer: None,
                identity,
                payer,
                amount: U256::from(transfer.amount),
                target: transfer.token_program.to_string(),
                data: serialize(&signed),
            }),
            Ok(Err(why)) => Err(Rejection::new(reason::SVM_SIMULATION_FAILED)
                .with_payer(payer)
                .with_message(why)),
            Err(e) => Err(Rejection::new(reason::UNEXPECTED_VERIFY_ERROR)
                .with_payer(payer)
                .with_message(e.to_string())),
        }
    }

    /// The settlement of a verified payment: verification already co-signed the very bytes it
    /// simulated, so nothing is signed twice; the fee payer's signature names the transaction.
    pub fn sign(&self, verified: &Verified) -> Result<SignedTx, String> {
        let tx = decode_transaction(&verified.data)?;
        Ok(SignedTx {
            hash: tx.signatures[0].to_string(),
            raw: verified.data.clone(),
        })
    }

    /// Sends recorded bytes; resending them can never pay twice (Solana dedupes by signature).
    pub async fn broadcast(&self, tx: &SignedTx) -> Broadcast {
        match decode_transaction(&tx.raw) {
            Ok(t) => self.chain.send(&t).await,
            Err(e) => Broadcast::Rejected(format!("recorded bytes do not decode: {e}")),
        }
    }

    /// Waits (bounded) for a settlement's signature at `confirmed`.
    pub async fn confirm(
        &self,
        signature: &str,
        timeout: std::time::Duration,
    ) -> Result<Option<bool>, ChainError> {
        let sig: Signature = signature
            .parse()
            .map_err(|_| ChainError::Config(format!("not a signature: {signature}")))?;
        self.chain.wait_confirmed(&sig, timeout).await
    }

    fn decode(&self, view: &PaymentView<'_>) -> Result<Decoded, Rejection> {
        let req = &view.requirements;
        if view.scheme != "exact" || req.scheme != "exact" {
            return Err(Rejection::new(reason::UNSUPPORTED_SCHEME));
        }
        if view.network.as_ref() != Some(&req.network) || &req.network != self.chain.network() {
            return Err(Rejection::new(reason::NETWORK_MISMATCH));
        }
        let fee_payer = req
            .extra_str("feePayer")
            .ok_or_else(|| Rejection::new(reason::SVM_MISSING_FEE_PAYER))?;
        let fee_payer = fee_payer
            .parse::<Pubkey>()
            .ok()
            .filter(|k| self.chain.fee_payer(k).is_some())
            .ok_or_else(|| {
                Rejection::new(reason::SVM_FEE_PAYER_NOT_MANAGED).with_message(format!(
                    "{fee_payer} is not a fee payer of this facilitator"
                ))
            })?;
        let tx = payload_transaction(view.payload)?;
        if tx
            .message
            .address_table_lookups()
            .is_some_and(|l| !l.is_empty())
        {
            return Err(Rejection::new(reason::SVM_TRANSACTION)
                .with_message("address lookup tables are not accepted"));
        }
        if tx.message.static_account_keys()[0] != fee_payer {
            return Err(Rejection::new(reason::SVM_FEE_PAYER_MISMATCH)
                .with_message("the transaction's fee payer is not extra.feePayer"));
        }
        let identity = identity_of(self.chain.network(), &tx);
        Ok(Decoded {
            tx,
            fee_payer,
            identity,
        })
    }

    fn cosign(
        &self,
        mut tx: VersionedTransaction,
        fee_payer: &Pubkey,
    ) -> Result<VersionedTransaction, Rejection> {
        let key = self
            .chain
            .fee_payer(fee_payer)
            .ok_or_else(|| Rejection::new(reason::SVM_FEE_PAYER_NOT_MANAGED))?;
        let slot = tx.signatures.first_mut().ok_or_else(|| {
            Rejection::new(reason::SVM_TRANSACTION).with_message("no fee-payer signature slot")
        })?;
        *slot = key.sign_message(&tx.message.serialize());
        Ok(tx)
    }
}

/// The seller's requirements in Solana terms.
fn expected_of<'a>(view: &'a PaymentView<'a>) -> Result<Expected<'a>, Rejection> {
    let req = &view.requirements;
    let bad = |m: String| Rejection::new(reason::INVALID_PAYMENT_REQUIREMENTS).with_message(m);
    let key = |s: &str, what: &str| {
        s.parse::<Pubkey>()
            .map_err(|_| bad(format!("{what} {s:?} is not a Solana address")))
    };
    let memo = req.extra_str("memo");
    if memo.is_some_and(|m| m.len() > MAX_MEMO_BYTES) {
        return Err(bad(format!("extra.memo is over {MAX_MEMO_BYTES} bytes")));
    }
    Ok(Expected {
        mint: key(req.asset, "asset")?,
        pay_to: key(req.pay_to, "payTo")?,
        amount: u64::try_from(req.amount)
            .map_err(|_| bad(format!("amount {} is over an SPL token's u64", req.amount)))?,
        memo,
    })
}

/// The wire bytes of a transaction.
pub fn serialize(tx: &VersionedTransaction) -> Vec<u8> {
    bincode::serialize(tx).expect("a transaction always serializes")
}
