//! `tollgate facilitator`: serves a facilitator built from its configuration
//! (`tollgate_facilitator::setup`), and reloads settlement keys while it serves.

mod reload;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use tollgate_facilitator::setup::{FacilitatorConfig, build_with_chains};
use tollgate_facilitator::{Doors, Failpoint, serve};

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

/// Runs the facilitator until ctrl-c (or `POST /close` when enabled); settlement keys from a
/// file or directory reload on SIGHUP and when the files change.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = FacilitatorConfig::load(args.config.as_deref(), &env)?;
    let failpoint = match env("TOLLGATE_FAILPOINT").as_deref() {
        None => None,
        Some("after_broadcast") => Some(Failpoint::AfterBroadcast),
        Some("after_claim") => Some(Failpoint::AfterClaim),
        Some(other) => bail!("unknown TOLLGATE_FAILPOINT {other:?}"),
    };
    let doors = Doors::default()
        .with_tokens(cfg.bearer_tokens(&env)?)
        .with_close(cfg.close_endpoint);
    let (f, chains) = build_with_chains(&cfg, &env, failpoint).await?;
    let f = Arc::new(f);
    // Registered before the process says it is listening: from then on SIGHUP reloads keys
    // instead of ending the process.
    let _reloader = reload::spawn(chains, env, cfg.keys_poll())?;
    let listen = cfg
        .listen
        .clone()
        .unwrap_or_else(|| "127.0.0.1:4022".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    println!("Facilitator listening on http://{addr}");
    if !doors.locked() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "no bearer token required on a non-loopback address: anyone who reaches it can make it spend gas on allowed assets");
    }
    serve(f, listener, doors).await?;
    tracing::info!("facilitator stopped");
    Ok(())
}
