//! The baseline: the official x402 SDK's facilitator (`x402Facilitator` with viem, from
//! `tests/interop`, installed by `scripts/setup.sh`) served by `tests/interop/sdk_facilitator.mjs`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tollgate_devnet::DevEvm;

const INTEROP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/interop");

/// A running SDK facilitator; killed on drop.
pub struct SdkFacilitator {
    _child: Child,
    pub url: String,
}

/// Starts the SDK's facilitator on `dev`'s chain with a fresh settlement key funded with ETH
/// (so its transaction nonces never meet Tollgate's signer's); `nonce_manager` gives its viem
/// account viem's `nonceManager`. Err says why it could not run.
pub async fn start(dev: &DevEvm, nonce_manager: bool) -> Result<SdkFacilitator, String> {
    if !Path::new(INTEROP).join("node_modules/@x402/core").exists() {
        return Err("tests/interop/node_modules lacks the SDK (run scripts/setup.sh)".into());
    }
    let key = PrivateKeySigner::random();
    let eth = U256::from(1000u64) * U256::from(10u64).pow(U256::from(18u64));
    dev.anvil
        .set_balance(key.address(), eth)
        .await
        .map_err(|e| format!("funding the SDK's key: {e}"))?;
    let mut child = Command::new("node")
        .arg("sdk_facilitator.mjs")
        .current_dir(INTEROP)
        .env("RPC_URL", &dev.anvil.rpc_url)
        .env(
            "FACILITATOR_KEY",
            format!("0x{}", alloy::hex::encode(key.to_bytes())),
        )
        .env("NETWORK", format!("eip155:{}", dev.anvil.chain_id))
        .env("NONCE_MANAGER", if nonce_manager { "1" } else { "0" })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("node did not start: {e}"))?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .map_err(|_| "the SDK facilitator printed nothing within 60 s".to_string())?
        .map_err(|e| format!("reading its stdout: {e}"))?
        .ok_or("the SDK facilitator exited before it was ready")?;
    let ready: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| format!("its ready line {line:?}: {e}"))?;
    let url = ready["url"]
        .as_str()
        .ok_or_else(|| format!("no url in {line:?}"))?
        .to_string();
    Ok(SdkFacilitator { _child: child, url })
}
