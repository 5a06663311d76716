//! One Solana cluster over JSON-RPC: the facilitator's fee-payer keys, simulation, sending and
//! bounded confirmation.

use std::time::{Duration, Instant};

use solana_client::client_error::{ClientError, ClientErrorKind};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::{RpcSendTransactionConfig, RpcSimulateTransactionConfig};
use solana_client::rpc_request::RpcError;
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use tollgate_proto::rpc::{EndpointHealth, EndpointState, endpoint_name, scrub_urls};
use tollgate_proto::{Broadcast, Network};

/// How often a pending signature's status is polled: about half a slot.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// How long one RPC call may take unless configured otherwise.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// A failure to reach or trust the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// Shown without any URL: solana-client's errors carry the RPC URL, and RPC URLs carry API
    /// keys.
    #[error("solana rpc: {}", scrub_urls(&.0.to_string()))]
    Rpc(#[from] Box<ClientError>),
    #[error("{0}")]
    Config(String),
    /// Not seen, and the node keeps no history: whether it landed long ago cannot be told, so
    /// the caller must not record a guess.
    #[error(
        "{0} not seen and the node keeps no transaction history: cannot tell whether it landed"
    )]
    NoHistory(String),
}

/// How the facilitator names the cluster behind an RPC URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterName {
    /// The cluster's own name, from its genesis hash.
    FromGenesis,
    /// This name, which must be the cluster's own: keys never sign for the wrong cluster.
    Expect(Network),
    /// This name whatever the genesis: a local validator standing in for a public cluster
    /// (SDK clients know only mainnet, devnet and testnet).
    Assume(Network),
}

/// A cluster the facilitator settles on, with the keys that pay its fees.
pub struct SolanaChain {
    rpc: RpcClient,
    network: Network,
    fee_payers: Vec<Keypair>,
}

impl SolanaChain {
    /// Connects to `rpc_url` with the default RPC timeout and names its cluster as `name` says.
    pub async fn connect(
        rpc_url: &str,
        fee_payers: Vec<Keypair>,
        name: ClusterName,
    ) -> Result<Self, ChainError> {
        Self::connect_with_timeout(rpc_url, DEFAULT_RPC_TIMEOUT, fee_payers, name).await
    }

    /// Connects to `rpc_url`, every call bounded by `timeout`, and names its cluster as `name`
    /// says.
    pub async fn connect_with_timeout(
        rpc_url: &str,
        timeout: Duration,
        fee_payers: Vec<Keypair>,
        name: ClusterName,
    ) -> Result<Self, ChainError> {
        if fee_payers.is_empty() {
            return Err(ChainError::Config("no Solana fee-payer key".into()));
        }
        let rpc = RpcClient::new_with_timeout_and_commitment(
            rpc_url.to_string(),
            timeout,
            CommitmentConfig::confirmed(),
        );
        let genesis = rpc.get_genesis_hash().await.map_err(Box::new)?;
        let actual = network_of_genesis(&genesis.to_string());
        let network = match name {
            ClusterName::FromGenesis => actual,
            ClusterName::Expect(n) if n == actual => actual,
            ClusterName::Expect(n) => {
                return Err(ChainError::Config(format!(
                    "the RPC serves {actual}, not the configured {n}"
                )));
            }
            ClusterName::Assume(n) => n,
        };
        Ok(Self {
            rpc,
            network,
            fee_payers,
        })
    }

    /// The cluster's CAIP-2 network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The JSON-RPC client, for callers that read accounts.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The fee-payer addresses, advertised as `extra.feePayer` and `signers`.
    pub fn fee_payer_addresses(&self) -> Vec<Pubkey> {
        self.fee_payers.iter().map(|k| k.pubkey()).collect()
    }

    /// The fee-payer key for `address`, if it is ours.
    pub fn fee_payer(&self, address: &Pubkey) -> Option<&Keypair> {
        self.fee_payers.iter().find(|k| k.pubkey() == *address)
    }

    /// Simulates with signature verification on and the client's own blockhash; `Err` carries
    /// the node's error and the last log lines.
    pub async fn simulate(
        &self,
        tx: &VersionedTransaction,
    ) -> Result<Result<(), String>, ChainError> {
        let config = RpcSimulateTransactionConfig {
            sig_verify: true,
            replace_recent_blockhash: false,
            commitment: Some(CommitmentConfig::confirmed()),
            ..Default::default()
        };
        let sim = self
            .rpc
            .simulate_transaction_with_config(tx, config)
            .await
            .map_err(Box::new)?
            .value;
        Ok(match sim.err {
            None => Ok(()),
            Some(err) => {
                let logs = sim.logs.unwrap_or_default();
                let tail = logs.iter().rev().take(3).rev().cloned().collect::<Vec<_>>();
                Err(format!("{err}; logs: {}", tail.join(" | ")))
            }
        })
    }

    /// Sends a fully signed transaction with preflight on, so a transaction that can no longer
    /// land (expired blockhash) is refused rather than silently dropped.
    pub async fn send(&self, tx: &VersionedTransaction) -> Broadcast {
        let config = RpcSendTransactionConfig {
            skip_preflight: false,
            preflight_commitment: Some(CommitmentLevel::Confirmed),
            max_retries: None,
            ..Default::default()
        };
        match self.rpc.send_transaction_with_config(tx, config).await {
            Ok(_) => Broadcast::Accepted,
            Err(e) => classify_send_error(&e),
        }
    }

    /// Waits up to `timeout` for `signature` at `confirmed`: `Some(true)` landed, `Some(false)`
    /// landed but failed, `None` not seen yet. The first look searches history, so a
    /// reconciliation long after the fact still finds it; on a node without history an unseen
    /// signature is [`ChainError::NoHistory`], never `None`.
    pub async fn wait_confirmed(
        &self,
        signature: &Signature,
        timeout: Duration,
    ) -> Result<Option<bool>, ChainError> {
        let deadline = Instant::now() + timeout;
        let mut first = true;
        let mut history = true;
        loop {
            let one = std::slice::from_ref(signature);
            let statuses = if first {
                match self.rpc.get_signature_statuses_with_history(one).await {
                    // A node without history still knows recent signatures.
                    Err(e) if history_unavailable(&e) => {
                        history = false;
                        self.rpc.get_signature_statuses(one).await
                    }
                    other => other,
                }
            } else {
                self.rpc.get_signature_statuses(one).await
            }
            .map_err(Box::new)?;
            first = false;
            if let Some(Some(status)) = statuses.value.first()
                && status.satisfies_commitment(CommitmentConfig::confirmed())
            {
                return Ok(Some(status.err.is_none()));
            }
            if Instant::now() + POLL_EVERY > deadline {
                if history {
                    return Ok(None);
                }
                return Err(ChainError::NoHistory(signature.to_string()));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Asks the node whether it answers and is caught up: its one endpoint's state, by index.
    pub async fn health(&self) -> Vec<EndpointHealth> {
        let start = Instant::now();
        let answer = self.rpc.get_health().await;
        let (state, latency_ms, error) = match answer {
            Ok(()) => (EndpointState::Ok, Some(millis(start.elapsed())), None),
            Err(e) => {
                let why = ChainError::Rpc(Box::new(e));
                (
                    EndpointState::Failing,
                    None,
                    Some(format!("{}: {why}", endpoint_name(0))),
                )
            }
        };
        vec![EndpointHealth {
            endpoint: 0,
            state,
            latency_ms,
            failures_in_a_row: u32::from(state == EndpointState::Failing),
            error,
        }]
    }
}

/// CAIP-2 of a cluster: `solana:` and the first 32 characters of its base58 genesis hash.
pub fn network_of_genesis(genesis_base58: &str) -> Network {
    let reference: String = genesis_base58.chars().take(32).collect();
    Network::from_caip2(&format!("solana:{reference}")).expect("base58 is a valid CAIP-2 reference")
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// JSON-RPC error -32011: the node keeps no transaction history.
fn history_unavailable(e: &ClientError) -> bool {
    matches!(
        e.kind(),
        ClientErrorKind::RpcError(RpcError::RpcResponseError { code: -32011, .. })
    )
}

/// Sorts a send failure: the node refused it (it will never land), it already has it, or the
/// answer was lost on the way.
fn classify_send_error(e: &ClientError) -> Broadcast {
    match e.get_transaction_error() {
        Some(TransactionError::AlreadyProcessed) => return Broadcast::Accepted,
        Some(err) => return Broadcast::Rejected(err.to_string()),
        None => {}
    }
    match e.kind() {
        ClientErrorKind::RpcError(RpcError::RpcResponseError { .. }) => {
            Broadcast::Rejected(scrub_urls(&e.to_string()))
        }
        _ => Broadcast::Unknown(scrub_urls(&e.to_string())),
    }
}
