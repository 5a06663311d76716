//! `tollgate gateway --config gateway.toml`: the x402 reverse proxy in front of an upstream API,
//! with a remote facilitator (`facilitator.url`) or one built in this process
//! (`facilitator.in_process = "facilitator.toml"`). Receipt keys are read again on SIGHUP and
//! when the config or key file changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tollgate_facilitator::setup::{FacilitatorConfig, build};
use tollgate_facilitator::{Facilitator, hold_recorded_nonces, spawn_reconciler};
use tollgate_gateway::config::ReceiptsConfig;
use tollgate_gateway::{
    FacilitatorClient, Gateway, GatewayConfig, InProcess, KeyWatch, Upstream, setup,
};

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

/// Runs the proxy until SIGTERM or ctrl-c, then drains and gives back held receipt calls.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = GatewayConfig::from_file(&args.config)?;
    // An in-process facilitator finishes its unfinished settlements as a standalone one does.
    let mut _reconciler = None;
    let f: Arc<dyn FacilitatorClient> = match (&cfg.facilitator.url, &cfg.facilitator.in_process) {
        (Some(_), None) => setup::remote_facilitator(&cfg, &env)?,
        (None, Some(path)) => {
            let f = Arc::new(in_process(path).await?);
            hold_recorded_nonces(&f).await?;
            _reconciler = Some(AbortOnDrop(spawn_reconciler(f.clone())));
            Arc::new(InProcess(f))
        }
        _ => bail!("set exactly one of facilitator.url and facilitator.in_process"),
    };
    let receipts = match &cfg.receipts {
        Some(c) => Some(setup::receipts(c, &env).await?),
        None => None,
    };
    let gw = Arc::new(Gateway::new(&cfg, f, receipts).await?);
    let _key_watch = match &cfg.receipts {
        Some(rc) => Some(AbortOnDrop(watch_keys(&args.config, rc, &gw)?)),
        None => None,
    };
    let upstream = cfg.upstream.as_deref().context("upstream is not set")?;
    let upstream = Upstream::new(upstream, cfg.max_body_bytes, &cfg.upstream_timeouts)?;
    let listen = cfg.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("Gateway listening on http://{}", listener.local_addr()?);
    if let Some(admin) = cfg.admin_listen.as_deref() {
        let l = tokio::net::TcpListener::bind(admin)
            .await
            .with_context(|| format!("binding admin_listen {admin}"))?;
        println!("Gateway metrics on http://{}/metrics", l.local_addr()?);
        let app = tollgate_gateway::admin_app(gw.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(l, app).await {
                tracing::error!(error = %e, "admin listener stopped");
            }
        });
    }
    // A stopping gateway lets every call under way finish: a paid one takes this long at most.
    let drain = cfg.longest_paid_call() + Duration::from_secs(5);
    tollgate_gateway::serve_proxy_until(gw, upstream, listener, stop_signal()?, drain).await?;
    Ok(())
}

/// Completes on SIGTERM or ctrl-c.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    })
}

/// Reloads the receipt keys, as the config file describes them then, on SIGHUP and (every
/// `keys_poll_seconds`, unless 0) when the config or the key file changed.
fn watch_keys(
    config: &Path,
    rc: &ReceiptsConfig,
    gw: &Gateway,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let keys = gw
        .receipt_keys()
        .context("receipts are configured")?
        .clone();
    let path = config.to_path_buf();
    let mut watch =
        KeyWatch::new(keys, move || setup::load_keys_from_config_file(&path, &env)).on_sighup();
    if rc.keys_poll_seconds > 0 {
        let files = std::iter::once(config.to_path_buf())
            .chain(rc.keys_file.clone())
            .collect();
        watch = watch.files(files, Duration::from_secs(rc.keys_poll_seconds));
    }
    watch.spawn().context("listening for SIGHUP")
}

/// Stops a background task when the command returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Builds a facilitator from its own TOML, as `tollgate facilitator` would, without serving it.
async fn in_process(path: &Path) -> anyhow::Result<Facilitator> {
    let cfg = FacilitatorConfig::load(Some(path), &env)?;
    build(&cfg, &env, None).await
}
