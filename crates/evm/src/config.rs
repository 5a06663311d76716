//! How the facilitator reaches and pays on one EVM chain: read once at connect (signers can be
//! replaced later), with defaults that suit Base and a local anvil.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use tollgate_proto::Network;

use crate::rpc::DEFAULT_RPC_TIMEOUT;

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
