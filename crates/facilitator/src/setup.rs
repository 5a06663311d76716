//! A facilitator assembled from configuration (a TOML file overridden by environment variables):
//! chains, ledger, allowlist and options, so the `tollgate facilitator` command and an axum app
//! that embeds a facilitator in process build it the same way.

mod config;
mod signers;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tollgate_evm::{ChainConfig, EvmChain};
use tollgate_proto::{Network, Networks};
use tollgate_solana::{ClusterName, Limits, SolanaChain};
use tollgate_store::Ledger;

pub use config::{
    EvmChainConfig, FacilitatorConfig, Fingerprint, KeySource, KeyText, RpcUrl, SvmChainConfig, Wei,
};
pub use signers::signers_of;

use crate::{
    Allowlist, EvmScheme, Facilitator, FacilitatorOptions, Failpoint, PaymentScheme,
    ReconcileOptions, SvmExactScheme,
};

/// Builds a facilitator (chains, ledger) from configuration, without serving it.
pub async fn build(
    cfg: &FacilitatorConfig,
    env: &dyn Fn(&str) -> Option<String>,
    failpoint: Option<Failpoint>,
) -> anyhow::Result<Facilitator> {
    Ok(build_with_chains(cfg, env, failpoint).await?.0)
}

/// Builds a facilitator and returns, beside it, each EVM chain with its config, so a caller can
/// reload the chains' settlement keys while it serves.
pub async fn build_with_chains(
    cfg: &FacilitatorConfig,
    env: &dyn Fn(&str) -> Option<String>,
    failpoint: Option<Failpoint>,
) -> anyhow::Result<(Facilitator, Vec<(EvmChainConfig, Arc<EvmChain>)>)> {
    let db = cfg
        .database_url
        .clone()
        .unwrap_or_else(|| "sqlite://tollgate.db".into());
    let ledger = Ledger::connect(&db).await.context("opening the ledger")?;
    let mut networks = Networks::default();
    let mut schemes: Vec<Arc<dyn PaymentScheme>> = Vec::new();
    let mut listed: Vec<(Network, &[String], &[String])> = Vec::new();
    let mut chains = Vec::new();
    for c in &cfg.evm {
        let network = Network::from_caip2(&c.network)
            .with_context(|| format!("bad network {:?}", c.network))?;
        listed.push((network.clone(), &c.assets, &c.pay_to));
        if let Some(name) = &c.v1_name {
            networks.add_name(name, network.clone());
        }
        let mut chain_cfg =
            ChainConfig::with_rpc_urls(network.clone(), c.rpc_urls()?, signers_of(c, env)?);
        if let Some(t) = c.rpc_timeout()? {
            chain_cfg.rpc_timeout = t;
        }
        chain_cfg.min_signer_balance_wei = c.min_signer_balance()?;
        if let Some(every) = c.signer_check_every()? {
            chain_cfg.signer_check_every = every;
        }
        if let Some(ms) = c.receipt_poll_ms {
            chain_cfg.receipt_poll = Duration::from_millis(ms);
        }
        if let Some(g) = c.gas_limit {
            chain_cfg.gas_limit = g;
        }
        if let Some(w) = c.max_fee_ceiling_wei {
            chain_cfg.max_fee_ceiling_wei = u128::from(w);
        }
        let chain = EvmChain::connect(chain_cfg)
            .await
            .with_context(|| format!("connecting to {network}"))?;
        chains.push((c.clone(), chain.clone()));
        schemes.push(Arc::new(EvmScheme::new(chain)));
    }
    for c in &cfg.svm {
        let scheme = svm_scheme(c, env, &mut networks).await?;
        listed.push((scheme.network().clone(), &c.assets, &c.pay_to));
        schemes.push(scheme);
    }
    let mut reconcile = ReconcileOptions::default();
    if let Some(s) = cfg.reconcile_after_secs {
        reconcile.min_age = Duration::from_secs(s);
    }
    if let Some(s) = cfg.reconcile_every_secs {
        anyhow::ensure!(s > 0, "reconcile_every_secs must be at least 1");
        reconcile.every = Duration::from_secs(s);
    }
    if let Some(s) = cfg.bump_after_secs {
        reconcile.bump_after = Duration::from_secs(s);
    }
    let opts = FacilitatorOptions {
        receipt_timeout: Duration::from_secs(cfg.receipt_timeout_secs.unwrap_or(30)),
        networks,
        failpoint,
        allow: Some(allowlist(cfg.allow_any_asset, &listed)),
        reconcile,
    };
    Ok((Facilitator::new(schemes, ledger, opts), chains))
}

/// Each chain's well-known USDC and the assets and payees its config names.
fn allowlist(any_asset: bool, chains: &[(Network, &[String], &[String])]) -> Allowlist {
    let mut allow = if any_asset {
        Allowlist::any_asset()
    } else {
        Allowlist::usdc_of(chains.iter().map(|(n, _, _)| n))
    };
    for (network, assets, pay_to) in chains {
        for a in *assets {
            allow.allow_asset(network, a);
        }
        for p in *pay_to {
            allow.allow_pay_to(network, p);
        }
    }
    allow
}

/// Connects to one Solana cluster; a configured network must be the RPC's own cluster.
async fn svm_scheme(
    c: &SvmChainConfig,
    env: &dyn Fn(&str) -> Option<String>,
    networks: &mut Networks,
) -> anyhow::Result<Arc<dyn PaymentScheme>> {
    let name = match &c.network {
        None => ClusterName::FromGenesis,
        Some(n) => {
            let n = networks
                .resolve_v1(n)
                .with_context(|| format!("bad network {n:?}"))?;
            if c.assume_network {
                ClusterName::Assume(n)
            } else {
                ClusterName::Expect(n)
            }
        }
    };
    anyhow::ensure!(
        !c.assume_network || c.network.is_some(),
        "assume_network needs a network to assume"
    );
    let timeout = c
        .rpc_timeout()?
        .unwrap_or(tollgate_solana::chain::DEFAULT_RPC_TIMEOUT);
    // Named by its network, never its URL: RPC URLs carry API keys.
    let cluster = c.network.as_deref().unwrap_or("named by its genesis");
    let chain = SolanaChain::connect_with_timeout(&c.rpc_url.0, timeout, c.keys(env)?, name)
        .await
        .with_context(|| format!("connecting to the Solana cluster ({cluster})"))?;
    if let Some(name) = &c.v1_name {
        networks.add_name(name, chain.network().clone());
    }
    let defaults = Limits::default();
    let limits = Limits {
        max_compute_unit_price: c
            .max_compute_unit_price
            .unwrap_or(defaults.max_compute_unit_price),
        max_compute_unit_limit: c
            .max_compute_unit_limit
            .unwrap_or(defaults.max_compute_unit_limit),
    };
    Ok(Arc::new(SvmExactScheme::new(Arc::new(chain), limits)))
}
