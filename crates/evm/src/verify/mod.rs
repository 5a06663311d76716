//! Verification: one pipeline (`pipeline`) each transfer method plugs into, and the chain reads
//! they share ([`ChainReads`]). The methods ask the chain only through it, so they depend
//! neither on each other nor on the scheme (`exact`) that dispatches to them.

mod eip3009;
mod permit2;
mod pipeline;
mod upto;

pub(crate) use eip3009::Eip3009;
pub(crate) use permit2::Permit2;
pub(crate) use pipeline::run;
pub(crate) use upto::Upto;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::Provider;
use alloy::rpc::client::BatchRequest;
use alloy::rpc::types::TransactionRequest;
use alloy::transports::{RpcError, TransportErrorKind};
use tollgate_proto::{PaymentView, Rejection, reason};

use crate::chain::EvmChain;
use crate::error::error_text;
use crate::wire::{ecdsa_matches, requirement_address};

/// What a transfer method's verification reads from its chain: code, simulations and batched
/// diagnostic calls, with the assets already seen deployed remembered.
pub(crate) struct ChainReads {
    chain: Arc<EvmChain>,
    /// Assets already seen to have contract code; code does not vanish, so one look suffices.
    deployed: RwLock<HashSet<Address>>,
}

impl ChainReads {
    /// Reads through `chain`, with nothing known deployed yet.
    pub(crate) fn new(chain: Arc<EvmChain>) -> Self {
        Self {
            chain,
            deployed: RwLock::new(HashSet::new()),
        }
    }

    /// The chain read: its network, chain id and whether Permit2 is there.
    pub(crate) fn chain(&self) -> &Arc<EvmChain> {
        &self.chain
    }

    /// Checks the payment is for this chain, as the requirement says, and reads the
    /// requirement's token and payee: the first checks of every transfer method.
    pub(crate) fn token_and_payee(
        &self,
        view: &PaymentView<'_>,
    ) -> Result<(Address, Address), Rejection> {
        let req = &view.requirements;
        if view.network.as_ref() != Some(&req.network) || &req.network != self.chain.network() {
            return Err(Rejection::new(reason::EVM_NETWORK_MISMATCH));
        }
        let token = requirement_address(req.asset, "asset")?;
        let pay_to = requirement_address(req.pay_to, "payTo")?;
        Ok((token, pay_to))
    }

    /// Runs `data` against `to` as a settlement would send it: from `sender`, else from a
    /// settlement signer.
    pub(crate) async fn simulate(
        &self,
        sender: Option<Address>,
        to: Address,
        data: Bytes,
    ) -> Result<Bytes, RpcError<TransportErrorKind>> {
        let sim = TransactionRequest::default()
            .from(sender.unwrap_or_else(|| self.chain.simulation_sender()))
            .to(to)
            .input(data.into());
        self.chain.provider().call(sim).await
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

    /// Runs `eth_call`s, after an `eth_getCode` of `code_of` if given, in one batched round
    /// trip, for diagnostics; `None` if the batch itself failed.
    pub(crate) async fn batch(
        &self,
        code_of: Option<Address>,
        calls: Vec<(Address, Bytes)>,
    ) -> Option<(Option<Bytes>, Vec<Option<Bytes>>)> {
        let mut batch = BatchRequest::new(self.chain.provider().client());
        let code = match code_of {
            Some(who) => Some(
                batch
                    .add_call::<_, Bytes>("eth_getCode", &(who, "latest"))
                    .ok()?,
            ),
            None => None,
        };
        let mut waiters = Vec::new();
        for (to, data) in calls {
            let tx = TransactionRequest::default().to(to).input(data.into());
            waiters.push(batch.add_call::<_, Bytes>("eth_call", &(tx,)).ok()?);
        }
        batch.send().await.ok()?;
        let code = match code {
            Some(w) => w.await.ok(),
            None => None,
        };
        let mut out = Vec::new();
        for w in waiters {
            out.push(w.await.ok());
        }
        Some((code, out))
    }
}
