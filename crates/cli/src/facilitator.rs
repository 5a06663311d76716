//! `tollgate facilitator`: builds the chains, ledger and HTTP server from configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use tollgate_evm::{ChainConfig, EvmChain};
use tollgate_facilitator::{
    EvmExactScheme, Facilitator, FacilitatorOptions, Failpoint, PaymentScheme, SvmExactScheme,
    reconcile_once, serve,
};
use tollgate_proto::{Network, Networks};
use tollgate_solana::{ClusterName, Limits, SolanaChain};
use tollgate_store::Ledger;

use crate::config::{FacilitatorConfig, SvmChainConfig};

/// Options of `tollgate facilitator`.
#[derive(clap::Args)]
pub struct Args {
    /// TOML configuration file; env variables (PORT, DATABASE_URL, EVM_*, SVM_*) override it.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Builds a facilitator (chains, ledger) from configuration, without serving it.
pub async fn build(
    cfg: &FacilitatorConfig,
    env: &dyn Fn(&str) -> Option<String>,
    failpoint: Option<Failpoint>,
) -> anyhow::Result<Facilitator> {
    let db = cfg
        .database_url
        .clone()
        .unwrap_or_else(|| "sqlite://tollgate.db".into());
    let ledger = Ledger::connect(&db).await.context("opening the ledger")?;
    let mut networks = Networks::default();
    let mut schemes: Vec<Arc<dyn PaymentScheme>> = Vec::new();
    for c in &cfg.evm {
        let network = Network::from_caip2(&c.network)
            .with_context(|| format!("bad network {:?}", c.network))?;
        if let Some(name) = &c.v1_name {
            networks.add_name(name, network.clone());
        }
        let mut signers = Vec::new();
        for (i, k) in c.keys(env)?.iter().enumerate() {
            let s: PrivateKeySigner = k.parse().map_err(|_| {
                anyhow::anyhow!("settlement key #{i} for {network} is not a valid secp256k1 key")
            })?;
            signers.push(s);
        }
        let mut chain_cfg = ChainConfig::new(network.clone(), c.rpc_url.clone(), signers);
        if let Some(ms) = c.receipt_poll_ms {
            chain_cfg.receipt_poll = Duration::from_millis(ms);
        }
        if let Some(g) = c.gas_limit {
            chain_cfg.gas_limit = g;
        }
        let chain = EvmChain::connect(chain_cfg)
            .await
            .with_context(|| format!("connecting to {network}"))?;
        schemes.push(Arc::new(EvmExactScheme::new(chain)));
    }
    for c in &cfg.svm {
        schemes.push(svm_scheme(c, env, &mut networks).await?);
    }
    let opts = FacilitatorOptions {
        receipt_timeout: Duration::from_secs(cfg.receipt_timeout_secs.unwrap_or(30)),
        networks,
        failpoint,
    };
    Ok(Facilitator::new(schemes, ledger, opts))
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
    let chain = SolanaChain::connect(&c.rpc_url, c.keys(env)?, name)
        .await
        .with_context(|| format!("connecting to Solana at {}", c.rpc_url))?;
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

/// Runs the facilitator until `POST /close` or ctrl-c.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = FacilitatorConfig::load(args.config.as_deref(), &env)?;
    let failpoint = match env("TOLLGATE_FAILPOINT").as_deref() {
        None => None,
        Some("after_broadcast") => Some(Failpoint::AfterBroadcast),
        Some(other) => bail!("unknown TOLLGATE_FAILPOINT {other:?}"),
    };
    let f = Arc::new(build(&cfg, &env, failpoint).await?);
    let done = reconcile_once(&f, Duration::ZERO, Duration::from_secs(10)).await?;
    if done > 0 {
        tracing::info!(done, "finished settlements left over from the last run");
    }
    let listen = cfg
        .listen
        .clone()
        .unwrap_or_else(|| "127.0.0.1:4022".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    println!("Facilitator listening on http://{addr}");
    serve(f, listener).await?;
    tracing::info!("facilitator stopped");
    Ok(())
}
