//! One EVM chain as the facilitator sees it: an RPC client, the settlement signers with their
//! nonces, a fee cache and the receipt watcher. Every EVM scheme settles through this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::RpcError;
use tollgate_proto::rpc::EndpointHealth;
use tollgate_proto::{Broadcast, Network, SignedTx};

use crate::landing::LandingWatcher;
use crate::permit2::{EXACT_PERMIT2_PROXY, PERMIT2};
use crate::rpc::{self, DEFAULT_RPC_TIMEOUT, Endpoints, error_text};
use crate::signers::{SignerPool, SignerSlot};

/// How the facilitator reaches and pays on one EVM chain.
#[derive(Clone)]
pub struct ChainConfig {
    pub network: Network,
    /// JSON-RPC endpoints in order of preference: reads race across them, a broadcast tries
    /// one at a time. Never printed: they often carry an API key.
    pub rpc_urls: Vec<String>,
    /// Longest one RPC call may wait for one endpoint.
    pub rpc_timeout: Duration,
    /// Keys that sign settlements; they pay the gas. Never logged. Replaceable at runtime with
    /// [`EvmChain::set_signers`].
    pub signers: Vec<PrivateKeySigner>,
    /// A signer whose gas balance (wei) is below this leaves the rotation until refilled;
    /// zero (the default) keeps every signer in.
    pub min_signer_balance_wei: U256,
    /// How often signer balances are read (also at connect and after each key change).
    pub signer_check_every: Duration,
    /// Gas limit of one settlement call (an EIP-3009 transfer uses well under 100k, a Permit2
    /// settlement with an EIP-2612 permit about 150k).
    pub gas_limit: u64,
    /// Highest fee per gas (wei) a stuck settlement is re-signed with when bumped.
    pub max_fee_ceiling_wei: u128,
    /// Tip offered per gas, in wei.
    pub priority_fee_wei: u128,
    /// How often the chain head is checked while settlements wait (receipts are fetched only
    /// when it moves): the longest a landing goes unnoticed.
    pub receipt_poll: Duration,
    /// Whether to pay the gas of payers' EIP-2612 permits (`eip2612GasSponsoring`) when the
    /// chain has Permit2 and the x402 proxy.
    pub eip2612_gas_sponsoring: bool,
}

impl ChainConfig {
    /// Defaults that suit Base and a local anvil, over one RPC endpoint.
    pub fn new(
        network: Network,
        rpc_url: impl Into<String>,
        signers: Vec<PrivateKeySigner>,
    ) -> Self {
        Self::with_rpc_urls(network, vec![rpc_url.into()], signers)
    }

    /// Defaults that suit Base and a local anvil, over several RPC endpoints.
    pub fn with_rpc_urls(
        network: Network,
        rpc_urls: Vec<String>,
        signers: Vec<PrivateKeySigner>,
    ) -> Self {
        Self {
            network,
            rpc_urls,
            rpc_timeout: DEFAULT_RPC_TIMEOUT,
            signers,
            min_signer_balance_wei: U256::ZERO,
            signer_check_every: Duration::from_secs(30),
            gas_limit: 300_000,
            max_fee_ceiling_wei: 200_000_000_000,
            priority_fee_wei: 100_000_000,
            receipt_poll: Duration::from_millis(25),
            eip2612_gas_sponsoring: true,
        }
    }
}

impl std::fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<Address> = self.signers.iter().map(|s| s.address()).collect();
        f.debug_struct("ChainConfig")
            .field("network", &self.network)
            .field("rpc_endpoints", &self.rpc_urls.len())
            .field("signers", &addrs)
            .finish_non_exhaustive()
    }
}

/// A chain-level failure (RPC down, misconfiguration); never a verdict on a payment.
#[derive(Debug, thiserror::Error)]
pub enum EvmError {
    #[error("rpc: {0}")]
    Rpc(String),
    #[error("config: {0}")]
    Config(String),
}

/// Looks for code at the canonical Permit2 and the x402 exact proxy addresses.
async fn permit2_deployed(provider: &RootProvider) -> Result<bool, EvmError> {
    for a in [PERMIT2, EXACT_PERMIT2_PROXY] {
        if provider.get_code_at(a).await.map_err(rpc_err)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

fn rpc_err(e: impl std::fmt::Display) -> EvmError {
    EvmError::Rpc(error_text(&e))
}

struct Fees {
    fetched: Instant,
    max_fee: u128,
    priority: u128,
}

/// How long a fetched gas price is reused.
const FEE_TTL: Duration = Duration::from_secs(3);

/// A connected EVM chain with its settlement signers.
pub struct EvmChain {
    network: Network,
    chain_id: u64,
    pub(crate) provider: RootProvider,
    /// Each endpoint alone, for `/health`.
    endpoints: Endpoints,
    /// The signers; replaced as a whole when keys rotate.
    pub(crate) signers: SignerPool,
    /// Serializes signer-set changes (held across their RPC reads, so a tokio lock).
    pub(crate) reload: tokio::sync::Mutex<()>,
    fees: Mutex<Option<Fees>>,
    /// Signed, not yet sent: the slot and nonce each transaction holds. The slot is held by
    /// `Arc`, so a transaction signed by a key retired meanwhile still finishes (or has its
    /// nonce filled) with that key. Never locked across an await.
    in_flight: Mutex<HashMap<B256, (Arc<SignerSlot>, u64)>>,
    landings: Arc<LandingWatcher>,
    permit2_deployed: bool,
    pub(crate) cfg: ChainConfig,
}

impl EvmChain {
    /// Connects, checks the node serves the configured chain id, loads signer nonces and
    /// balances, and starts the periodic balance check.
    pub async fn connect(cfg: ChainConfig) -> Result<Arc<Self>, EvmError> {
        let chain_id = cfg
            .network
            .chain_id()
            .ok_or_else(|| EvmError::Config(format!("{} is not an EVM network", cfg.network)))?;
        if cfg.signers.is_empty() {
            return Err(EvmError::Config("no settlement signer configured".into()));
        }
        let (provider, endpoints) = rpc::connect(&cfg.rpc_urls, cfg.rpc_timeout)?;
        let node_chain = provider.get_chain_id().await.map_err(rpc_err)?;
        if node_chain != chain_id {
            return Err(EvmError::Config(format!(
                "node serves chain {node_chain}, config says {chain_id}"
            )));
        }
        let mut slots = Vec::new();
        for signer in crate::rotation::distinct(cfg.signers.clone()) {
            let next = provider
                .get_transaction_count(signer.address())
                .pending()
                .await
                .map_err(rpc_err)?;
            slots.push(SignerSlot::new(signer, next));
        }
        let permit2_deployed = permit2_deployed(&provider).await?;
        let landings = LandingWatcher::spawn(provider.clone(), cfg.receipt_poll);
        let chain = Arc::new(Self {
            network: cfg.network.clone(),
            chain_id,
            provider,
            endpoints,
            signers: SignerPool::new(slots),
            reload: tokio::sync::Mutex::new(()),
            fees: Mutex::new(None),
            in_flight: Mutex::new(HashMap::new()),
            landings,
            permit2_deployed,
            cfg,
        });
        chain.check_balances().await;
        crate::rotation::spawn_balance_checks(&chain);
        Ok(chain)
    }

    /// Whether Permit2 and the x402 exact Permit2 proxy had code when this chain connected;
    /// without both, Permit2 payments are neither advertised nor accepted.
    pub fn permit2_deployed(&self) -> bool {
        self.permit2_deployed
    }

    /// Whether EIP-2612 permits are sponsored here (configured on, and Permit2 usable).
    pub fn eip2612_gas_sponsoring(&self) -> bool {
        self.permit2_deployed && self.cfg.eip2612_gas_sponsoring
    }

    /// The network this chain serves.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The EIP-155 chain id signatures must bind to.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The RPC client, for scheme-specific reads.
    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    /// Addresses that sign settlements (published in `/supported`): the configured set.
    pub fn signer_addresses(&self) -> Vec<Address> {
        self.signers
            .configured()
            .iter()
            .map(|s| s.address())
            .collect()
    }

    /// The address simulations run from, so they see what a settlement would.
    pub fn simulation_sender(&self) -> Address {
        self.signers.configured()[0].address()
    }

    /// The fee caps to sign with; the cache is never locked across the RPC call.
    pub(crate) async fn fees(&self) -> Result<(u128, u128), EvmError> {
        if let Some(f) = self
            .fees
            .lock()
            .expect("fee cache lock")
            .as_ref()
            .filter(|f| f.fetched.elapsed() < FEE_TTL)
        {
            return Ok((f.max_fee, f.priority));
        }
        let gas_price = self.provider.get_gas_price().await.map_err(rpc_err)?;
        let priority = self.cfg.priority_fee_wei;
        let max_fee = gas_price.saturating_mul(2).saturating_add(priority);
        *self.fees.lock().expect("fee cache lock") = Some(Fees {
            fetched: Instant::now(),
            max_fee,
            priority,
        });
        Ok((max_fee, priority))
    }

    /// Signs a call to `to` with the next signer and nonce; nothing is sent. Fees are fetched
    /// first: from taking the nonce to recording it in flight nothing awaits, so a dropped
    /// caller cannot leak a nonce.
    pub async fn sign_call(&self, to: Address, data: Bytes) -> Result<SignedTx, EvmError> {
        let fees = self.fees().await?;
        let slot = self.signers.next();
        let nonce = slot.nonces.acquire();
        let signed = self.sign_at(&slot, nonce, fees, to, data, self.cfg.gas_limit);
        if signed.is_err() {
            slot.nonces.give_back(nonce);
        }
        signed
    }

    fn sign_at(
        &self,
        slot: &Arc<SignerSlot>,
        nonce: u64,
        (max_fee, priority): (u128, u128),
        to: Address,
        data: Bytes,
        gas_limit: u64,
    ) -> Result<SignedTx, EvmError> {
        let mut tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority,
            to: TxKind::Call(to),
            value: U256::ZERO,
            access_list: Default::default(),
            input: data,
        };
        let sig = slot
            .signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| EvmError::Config(format!("signing failed: {e}")))?;
        let envelope = TxEnvelope::Eip1559(tx.into_signed(sig));
        let hash = *envelope.tx_hash();
        self.in_flight
            .lock()
            .expect("in-flight lock")
            .insert(hash, (slot.clone(), nonce));
        Ok(SignedTx {
            hash: format!("{hash:#x}"),
            raw: envelope.encoded_2718(),
        })
    }

    /// Retires a signed transaction that will never be sent. Its nonce may sit below
    /// settlements already broadcast, so it is spent on a 0-value self-transfer: a gap would
    /// stall every later settlement of that signer.
    pub async fn abandon(&self, tx: &SignedTx) {
        let Ok(hash) = tx.hash.parse::<B256>() else {
            return;
        };
        let Some((slot, nonce)) = self.in_flight.lock().expect("in-flight lock").remove(&hash)
        else {
            return;
        };
        let me = slot.address();
        let filler = match self.fees().await {
            Ok(fees) => self.sign_at(&slot, nonce, fees, me, Bytes::new(), 21_000),
            Err(e) => Err(e),
        };
        match filler {
            Ok(filler) => {
                if let Broadcast::Rejected(e) | Broadcast::Unknown(e) =
                    self.broadcast(&filler).await
                {
                    tracing::warn!(nonce, error = %e, "nonce gap filler not accepted");
                }
            }
            Err(e) => tracing::warn!(nonce, error = %e, "could not sign a nonce gap filler"),
        }
    }

    /// Sends signed bytes; a refused fresh transaction gives its nonce back for reuse.
    pub async fn broadcast(&self, tx: &SignedTx) -> Broadcast {
        let hash: Option<B256> = tx.hash.parse().ok();
        let local = match hash {
            Some(h) => self.in_flight.lock().expect("in-flight lock").remove(&h),
            None => None,
        };
        let outcome = match self.provider.send_raw_transaction(&tx.raw).await {
            Ok(_) => Broadcast::Accepted,
            Err(RpcError::ErrorResp(resp)) => {
                let msg = resp.message.to_lowercase();
                if node_has_it(&msg) {
                    Broadcast::Accepted
                } else {
                    Broadcast::Rejected(resp.message.to_string())
                }
            }
            Err(e) => Broadcast::Unknown(error_text(&e)),
        };
        if let (Broadcast::Rejected(msg), Some((slot, nonce))) = (&outcome, local) {
            let msg = msg.to_lowercase();
            if msg.contains("nonce too low") {
                if let Ok(n) = self
                    .provider
                    .get_transaction_count(slot.address())
                    .pending()
                    .await
                {
                    slot.nonces.resync(n);
                }
            } else if !self.signers.is_configured(&slot) {
                self.fill_retired_gap(&slot, nonce).await;
            } else {
                slot.nonces.give_back(nonce);
                if msg.contains("insufficient funds") {
                    // Out of gas money sooner than the last check saw: re-read it now.
                    self.check_balance_of(&slot).await;
                }
            }
        }
        outcome
    }

    /// A retired key signs nothing new, so a nonce handed back to it would stay a gap that
    /// stalls the transactions it signed after that nonce: it is spent at once on a 0-value
    /// self-transfer, sent straight to the node.
    async fn fill_retired_gap(&self, slot: &Arc<SignerSlot>, nonce: u64) {
        let me = slot.address();
        let filler = match self.fees().await {
            Ok(fees) => self.sign_at(slot, nonce, fees, me, Bytes::new(), 21_000),
            Err(e) => Err(e),
        };
        let sent = match filler {
            Ok(filler) => {
                if let Ok(h) = filler.hash.parse::<B256>() {
                    self.in_flight.lock().expect("in-flight lock").remove(&h);
                }
                self.provider
                    .send_raw_transaction(&filler.raw)
                    .await
                    .map(|_| ())
                    .map_err(|e| error_text(&e))
            }
            Err(e) => Err(error_text(&e)),
        };
        if let Err(e) = sent {
            tracing::warn!(signer = %me, nonce, error = %e, "retired signer's nonce gap not filled");
        }
    }

    /// Waits up to `timeout` for the receipt: `Some(status)` once mined, `None` if still pending.
    pub async fn wait_receipt(
        &self,
        hash: &str,
        timeout: Duration,
    ) -> Result<Option<bool>, EvmError> {
        let h: B256 = hash
            .parse()
            .map_err(|_| EvmError::Rpc(format!("bad tx hash {hash}")))?;
        let rx = self.landings.watch(h).await;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(status)) => Ok(Some(status)),
            Ok(Err(_)) => Err(EvmError::Rpc("receipt watcher stopped".into())),
            Err(_) => Ok(None),
        }
    }

    /// Asks each RPC endpoint on its own whether it answers; in configured order.
    pub async fn health(&self) -> Vec<EndpointHealth> {
        self.endpoints.health().await
    }
}

/// Whether a node's refusal of a send only says it holds that very transaction already (geth
/// "already known", anvil "transaction already imported", besu "known transaction", erigon
/// "already exists"): the send did what it was for.
fn node_has_it(refusal: &str) -> bool {
    let m = refusal.to_lowercase();
    [
        "already known",
        "already imported",
        "known transaction",
        "already exists",
        "alreadyknown",
    ]
    .iter()
    .any(|k| m.contains(k))
}

#[cfg(test)]
mod tests {
    use super::node_has_it;

    #[test]
    fn a_node_that_holds_the_transaction_already_is_not_a_refusal() {
        for m in [
            "already known",
            "transaction already imported",
            "Known transaction: 0xab",
            "ALREADY_EXISTS: already exists",
        ] {
            assert!(node_has_it(m), "{m}");
        }
        assert!(!node_has_it("nonce too low"));
        assert!(!node_has_it("max fee per gas less than block base fee"));
    }
}
