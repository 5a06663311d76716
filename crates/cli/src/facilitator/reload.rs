//! Settlement keys reloaded while the facilitator serves: on SIGHUP, and when a chain's key file
//! or key directory changes (looked at every `keys_poll_secs`, default two seconds). Kept keys keep their nonces, added
//! keys join the rotation, retired keys sign nothing new while what they signed still finishes;
//! no request is dropped. A reload that fails (a bad key, no key left, the RPC down) keeps the
//! keys in use and says why in the log, naming the key's file, never its text. Solana fee-payer
//! keys are not reloaded.

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tollgate_evm::{EvmChain, SignerChange};

use tollgate_facilitator::setup::{EvmChainConfig, Fingerprint, signers_of};

type Env = fn(&str) -> Option<String>;

/// One chain whose keys may change.
struct Watched {
    cfg: EvmChainConfig,
    chain: Arc<EvmChain>,
    /// The key files as last loaded; a failed reload leaves it, so the next look retries.
    loaded: Option<Fingerprint>,
    /// The last failure logged, so a file that stays broken is not logged every two seconds.
    failing: Option<String>,
}

/// Starts reloading keys of `chains` on SIGHUP and, with `poll`, when their files change.
/// SIGHUP is taken over from here on (it no longer ends the process), so call this before
/// announcing that the process serves.
pub(crate) fn spawn(
    chains: Vec<(EvmChainConfig, Arc<EvmChain>)>,
    env: Env,
    poll: Option<Duration>,
) -> anyhow::Result<JoinHandle<()>> {
    let mut hangup = signal(SignalKind::hangup())?;
    let mut watched: Vec<Watched> = chains
        .into_iter()
        .map(|(cfg, chain)| Watched {
            loaded: fingerprint(&cfg),
            cfg,
            chain,
            failing: None,
        })
        .collect();
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll.unwrap_or(Duration::from_secs(3600)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let asked = tokio::select! {
                _ = hangup.recv() => true,
                _ = tick.tick(), if poll.is_some() => false,
            };
            if asked {
                tracing::info!("SIGHUP: reloading settlement keys");
            }
            for w in &mut watched {
                w.reload(asked, env).await;
            }
        }
    }))
}

fn fingerprint(cfg: &EvmChainConfig) -> Option<Fingerprint> {
    cfg.key_source().ok().and_then(|s| s.fingerprint())
}

impl Watched {
    /// Reloads when `asked` (SIGHUP) or when the key files changed since the last load.
    async fn reload(&mut self, asked: bool, env: Env) {
        let now = fingerprint(&self.cfg);
        if !asked && now == self.loaded {
            return;
        }
        match self.apply(env).await {
            Ok(change) => {
                self.loaded = now;
                self.failing = None;
                log_change(&self.cfg.network, &change);
            }
            Err(e) => {
                let why = format!("{e:#}");
                if asked || self.failing.as_deref() != Some(why.as_str()) {
                    tracing::warn!(network = %self.cfg.network, error = %why, "settlement keys not reloaded; the keys in use stay");
                }
                self.failing = Some(why);
            }
        }
    }

    async fn apply(&self, env: Env) -> anyhow::Result<SignerChange> {
        let signers = signers_of(&self.cfg, &env)?;
        Ok(self.chain.set_signers(signers).await?)
    }
}

fn log_change(network: &str, change: &SignerChange) {
    if change.is_empty() {
        tracing::info!(network, signers = change.kept, "settlement keys unchanged");
        return;
    }
    let list = |a: &[alloy::primitives::Address]| {
        a.iter()
            .map(|a| a.to_checksum(None))
            .collect::<Vec<_>>()
            .join(",")
    };
    tracing::info!(
        network,
        added = %list(&change.added),
        retired = %list(&change.retired),
        kept = change.kept,
        "settlement keys reloaded"
    );
}
