//! One EVM chain as the facilitator sees it: an RPC client, the settlement signers with their
//! nonces and gas balances, a fee cache and the receipt watcher. Every EVM scheme settles
//! through this; sending (`send`), fee bumps (`replace`) and key changes (`rotation`) build on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use tollgate_proto::rpc::EndpointHealth;
use tollgate_proto::{Network, SignedTx};

use crate::config::ChainConfig;
use crate::contracts::{EXACT_PERMIT2_PROXY, PERMIT2, UPTO_PERMIT2_PROXY};
use crate::error::{EvmError, error_text};
use crate::fillers::Fillers;
use crate::landing::LandingWatcher;
use crate::rpc::{self, Endpoints};
use crate::signers::{SignerPool, SignerSlot, distinct};

/// Whether every one of `contracts` has code.
async fn deployed(provider: &RootProvider, contracts: &[Address]) -> Result<bool, EvmError> {
    for &a in contracts {
        if provider
            .get_code_at(a)
            .await
            .map_err(EvmError::rpc)?
            .is_empty()
        {
            return Ok(false);
        }
    }
    Ok(true)
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
    pub(crate) in_flight: Mutex<HashMap<B256, (Arc<SignerSlot>, u64)>>,
    /// Gap fillers sent and not yet seen mined.
    pub(crate) fillers: Fillers,
    landings: Arc<LandingWatcher>,
    permit2_deployed: bool,
    upto_deployed: bool,
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
        let node_chain = provider.get_chain_id().await.map_err(EvmError::rpc)?;
        if node_chain != chain_id {
            return Err(EvmError::Config(format!(
                "node serves chain {node_chain}, config says {chain_id}"
            )));
        }
        let mut slots = Vec::new();
        for signer in distinct(cfg.signers.clone()) {
            let next = provider
                .get_transaction_count(signer.address())
                .pending()
                .await
                .map_err(EvmError::rpc)?;
            slots.push(SignerSlot::new(signer, next));
        }
        let permit2_deployed = deployed(&provider, &[PERMIT2, EXACT_PERMIT2_PROXY]).await?;
        let upto_deployed = deployed(&provider, &[PERMIT2, UPTO_PERMIT2_PROXY]).await?;
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
            fillers: Fillers::default(),
            landings,
            permit2_deployed,
            upto_deployed,
            cfg,
        });
        chain.check_balances().await;
        spawn_balance_checks(&chain);
        Ok(chain)
    }

    /// Whether Permit2 and the x402 exact Permit2 proxy had code when this chain connected;
    /// without both, Permit2 payments are neither advertised nor accepted.
    pub fn permit2_deployed(&self) -> bool {
        self.permit2_deployed
    }

    /// Whether Permit2 and the x402 upto Permit2 proxy had code when this chain connected;
    /// without both, `upto` is neither advertised nor accepted.
    pub fn upto_deployed(&self) -> bool {
        self.upto_deployed
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

    /// The signer `upto` payers are told to name: the first configured one still in rotation
    /// (funded above the minimum), else the first configured one.
    pub fn settler(&self) -> Address {
        let configured = self.signers.configured();
        configured
            .iter()
            .find(|s| s.in_rotation())
            .unwrap_or(&configured[0])
            .address()
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
        let gas_price = self.provider.get_gas_price().await.map_err(EvmError::rpc)?;
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
        self.sign_call_by(None, to, data).await
    }

    /// Signs a call as [`Self::sign_call`] does, by `signer` when given (a payment that names
    /// the one signer allowed to settle it); refused when that signer is not configured.
    pub async fn sign_call_by(
        &self,
        signer: Option<Address>,
        to: Address,
        data: Bytes,
    ) -> Result<SignedTx, EvmError> {
        let slot = match signer {
            None => self.signers.next(),
            Some(a) => self
                .signers
                .find(a)
                .filter(|s| self.signers.is_configured(s))
                .ok_or_else(|| EvmError::Config(format!("{a} is not a settlement signer here")))?,
        };
        let fees = self.fees().await?;
        let nonce = slot.nonces.acquire();
        let signed = self.sign_at(&slot, nonce, fees, to, data, self.cfg.gas_limit);
        if signed.is_err() {
            slot.nonces.give_back(nonce);
        }
        signed
    }

    /// Signs a call with `slot` at `nonce` and records it in flight.
    pub(crate) fn sign_at(
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

    /// Reads every signer's gas balance and updates the rotation: a signer below
    /// `min_signer_balance_wei` leaves it, a refilled one comes back. A failed read keeps the
    /// signer as it was.
    pub async fn check_balances(&self) {
        let slots = self.signers.configured();
        futures::future::join_all(slots.iter().map(|s| self.read_balance(s))).await;
        self.rerank(slots.len());
    }

    /// Re-reads one signer's balance (after the node refused its transaction for want of gas).
    pub(crate) async fn check_balance_of(&self, slot: &Arc<SignerSlot>) {
        self.read_balance(slot).await;
        self.rerank(self.signers.configured().len());
    }

    async fn read_balance(&self, slot: &SignerSlot) {
        let address = slot.address();
        let min = self.cfg.min_signer_balance_wei;
        match self.provider.get_balance(address).await {
            Ok(wei) => match slot.record_balance(wei, min) {
                Some(true) => {
                    tracing::warn!(network = %self.network(), signer = %address, balance_wei = %wei, min_wei = %min, "signer below the minimum gas balance: out of rotation")
                }
                Some(false) => {
                    tracing::info!(network = %self.network(), signer = %address, balance_wei = %wei, "signer refilled: back in rotation")
                }
                None => {}
            },
            Err(e) => {
                tracing::warn!(network = %self.network(), signer = %address, error = %error_text(&e), "could not read a signer's balance")
            }
        }
    }

    fn rerank(&self, configured: usize) {
        if self.signers.rerank() == 0 && configured > 0 {
            tracing::error!(network = %self.network(), "every settlement signer is below the minimum gas balance: settling with them anyway; refill them");
        }
    }
}

/// Re-reads signer balances every `signer_check_every` for as long as the chain lives.
fn spawn_balance_checks(chain: &Arc<EvmChain>) {
    let every = chain.cfg.signer_check_every;
    let chain = Arc::downgrade(chain);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(chain) = chain.upgrade() else { return };
            chain.check_balances().await;
        }
    });
}
