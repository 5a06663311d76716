//! `tollgate gateway --config gateway.toml`: the x402 reverse proxy in front of an upstream API,
//! with a remote facilitator (`facilitator.url`) or one built in this process
//! (`facilitator.in_process = "facilitator.toml"`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use tollgate_evm::{ChainConfig, EvmChain};
use tollgate_facilitator::{EvmExactScheme, Facilitator, FacilitatorOptions, PaymentScheme};
use tollgate_gateway::{FacilitatorClient, Gateway, GatewayConfig, InProcess, Upstream, setup};
use tollgate_proto::{Network, Networks};
use tollgate_store::Ledger;

use crate::config::FacilitatorConfig;

/// Options of `tollgate gateway`.
#[derive(clap::Args)]
pub struct Args {
    /// Gateway TOML (upstream, facilitator, pay_to, assets, routes, receipts).
    #[arg(long, env = "TOLLGATE_GATEWAY_CONFIG")]
    config: PathBuf,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Runs the proxy until ctrl-c.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = GatewayConfig::from_file(&args.config)?;
    let f: Arc<dyn FacilitatorClient> = match (&cfg.facilitator.url, &cfg.facilitator.in_process) {
        (Some(_), None) => setup::remote_facilitator(&cfg)?,
        (None, Some(path)) => Arc::new(InProcess(Arc::new(in_process(path).await?))),
        _ => bail!("set exactly one of facilitator.url and facilitator.in_process"),
    };
    let receipts = match &cfg.receipts {
        Some(c) => Some(setup::receipts(c, &env).await?),
        None => None,
    };
    let gw = Arc::new(Gateway::new(&cfg, f, receipts).await?);
    let upstream = cfg.upstream.as_deref().context("upstream is not set")?;
    let upstream = Upstream::new(upstream, cfg.max_body_bytes)?;
    let listen = cfg.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("Gateway listening on http://{}", listener.local_addr()?);
    tokio::select! {
        r = tollgate_gateway::serve_proxy(gw, upstream, listener) => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Builds a facilitator from its own TOML, as `tollgate facilitator` would, without serving it.
async fn in_process(path: &Path) -> anyhow::Result<Facilitator> {
    let cfg = FacilitatorConfig::load(Some(path), &env)?;
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
        for (i, k) in c.keys(&env)?.iter().enumerate() {
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
    let opts = FacilitatorOptions {
        receipt_timeout: Duration::from_secs(cfg.receipt_timeout_secs.unwrap_or(30)),
        networks,
        failpoint: None,
    };
    Ok(Facilitator::new(schemes, ledger, opts))
}
