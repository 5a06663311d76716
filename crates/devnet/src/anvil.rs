//! Starts and stops a local anvil node on a free loopback port.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::RpcClient;
use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// How anvil should behave.
#[derive(Debug, Clone)]
pub struct AnvilOptions {
    /// EIP-155 chain id (31337 is anvil's own; 84532 mimics Base Sepolia).
    pub chain_id: u64,
    /// Seconds per block; `None` mines each transaction at once.
    pub block_time: Option<u64>,
    /// Keep every block's state (anvil's default). `false` runs `--prune-history`: anvil then
    /// keeps a few recent states in memory and persists none, so building the ten-thousandth
    /// block costs what the first did; a benchmark that sends thousands of transactions
    /// measures the facilitator, not the growth of anvil's history.
    pub keep_history: bool,
}

impl Default for AnvilOptions {
    fn default() -> Self {
        Self {
            chain_id: 31337,
            block_time: None,
            keep_history: true,
        }
    }
}

/// A running anvil; killed when dropped.
pub struct Anvil {
    child: Child,
    /// JSON-RPC endpoint on 127.0.0.1.
    pub rpc_url: String,
    /// The chain id it serves.
    pub chain_id: u64,
}

/// Finds the anvil binary: `TOLLGATE_ANVIL`, then the project's npm install, then `PATH`.
pub fn anvil_binary() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("TOLLGATE_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    let rel = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
    let mut dir = std::env::current_dir().ok();
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for start in [dir.take(), Some(manifest)].into_iter().flatten() {
        for d in start.ancestors() {
            let candidate = d.join(rel);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("anvil").is_file() {
                return Ok(d.join("anvil"));
            }
        }
    }
    bail!(
        "anvil not found: run `npm ci` in the project root (it installs @foundry-rs/anvil-linux-amd64) or set TOLLGATE_ANVIL"
    )
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Anvil {
    /// Starts anvil and returns once it answers JSON-RPC.
    pub async fn start(opts: AnvilOptions) -> anyhow::Result<Self> {
        let bin = anvil_binary()?;
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let mut cmd = Command::new(&bin);
            cmd.args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--chain-id",
                &opts.chain_id.to_string(),
            ])
            .args(["--accounts", "1", "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
            if let Some(t) = opts.block_time {
                cmd.args(["--block-time", &t.to_string()]);
            }
            if !opts.keep_history {
                cmd.arg("--prune-history");
            }
            let child = cmd
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?;
            let me = Self {
                child,
                rpc_url: format!("http://127.0.0.1:{port}"),
                chain_id: opts.chain_id,
            };
            match me.wait_ready(Duration::from_secs(20)).await {
                Ok(()) => return Ok(me),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("anvil did not start")))
    }

    async fn wait_ready(&self, within: Duration) -> anyhow::Result<()> {
        let provider = self.provider();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(id) = provider.get_chain_id().await {
                if id == self.chain_id {
                    return Ok(());
                }
                bail!("something else answers on {} (chain {id})", self.rpc_url);
            }
            if Instant::now() > deadline {
                bail!("anvil did not answer on {} within {within:?}", self.rpc_url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A plain RPC client for this node.
    pub fn provider(&self) -> RootProvider {
        RootProvider::new(RpcClient::new_http(
            self.rpc_url.parse().expect("loopback url"),
        ))
    }

    /// Gives `who` exactly `wei` of ETH (`anvil_setBalance`): gas money, or none of it.
    pub async fn set_balance(&self, who: Address, wei: U256) -> anyhow::Result<()> {
        self.provider()
            .raw_request::<_, ()>("anvil_setBalance".into(), (who, wei))
            .await
            .context("anvil_setBalance")
    }

    /// Stops the node now (also happens on drop).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
