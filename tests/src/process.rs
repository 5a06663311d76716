//! Runs the `tollgate` binary as its own process, as an operator would.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Starts `tollgate facilitator --config <config>` with `envs`, and returns it with its base URL
/// once it prints its `Facilitator listening` line.
pub async fn spawn_facilitator(
    bin: &Path,
    config: &Path,
    envs: &[(&str, String)],
) -> (Child, String) {
    let mut cmd = Command::new(bin);
    cmd.arg("facilitator")
        .arg("--config")
        .arg(config)
        .env_remove("PORT")
        .env_remove("TOLLGATE_FAILPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn tollgate");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = listening_url(&mut lines, "Facilitator").await;
    (child, url)
}

/// The URL a `tollgate` process prints as `<what> listening on <url>` on stdout, waited for (at
/// most 60 s); the lines after it stay in `lines`.
pub async fn listening_url(lines: &mut Lines<BufReader<ChildStdout>>, what: &str) -> String {
    let marker = format!("{what} listening on ");
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(rest) = line.split(&marker).nth(1) {
                return rest.trim().to_string();
            }
        }
        panic!("{what} exited before listening");
    })
    .await
    .unwrap_or_else(|_| panic!("{what} starts within 60 s"))
}

/// Posts `/settle` to a facilitator process; a transport error means the process is gone.
pub async fn post_settle(
    url: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, reqwest::Error> {
    reqwest::Client::new()
        .post(format!("{url}/settle"))
        .json(body)
        .send()
        .await?
        .json()
        .await
}

/// `node <script>` in `tests/interop`, where the official x402 SDK's peers live.
pub fn interop_node(script: &str) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/interop"))
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

/// An SDK peer (`interop_node(script)`) told to sell GET /data for `amount` USDC atomic units
/// on `env`'s chain, to its payee.
pub fn sdk_usdc_seller(env: &crate::Env, script: &str, amount: u64) -> Command {
    let mut cmd = interop_node(script);
    cmd.env("NETWORK", env.network.caip2())
        .env("ASSET", env.dev.usdc.address.to_checksum(None))
        .env("AMOUNT", amount.to_string())
        .env("PAY_TO", env.dev.pay_to.to_checksum(None))
        .env("TOKEN_NAME", &env.dev.usdc.name)
        .env("TOKEN_VERSION", &env.dev.usdc.version);
    cmd
}

/// An SDK seller (`sdk_server_and_facilitator.mjs`) of GET /data for `amount` USDC atomic units
/// that settles through the SDK's own facilitator, paying gas from the chain's deployer key
/// (not Tollgate's facilitator key, so the facilitator's transaction count shows who settled).
pub fn sdk_self_settling_seller(env: &crate::Env, amount: u64) -> Command {
    let mut cmd = sdk_usdc_seller(env, "sdk_server_and_facilitator.mjs", amount);
    let key = alloy::hex::encode(env.dev.deployer.to_bytes());
    cmd.env("RPC_URL", &env.dev.anvil.rpc_url)
        .env("FACILITATOR_KEY", format!("0x{key}"));
    cmd
}

/// Runs the official x402 fetch client (`tests/interop/fetch_pay.mjs`) with `envs` and returns
/// the one JSON line it prints: `{status, body, paymentResponse}`.
pub async fn official_fetch_pay(envs: &[(&str, String)]) -> serde_json::Value {
    let mut cmd = interop_node("fetch_pay.mjs");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    last_json_line(cmd).await
}

/// Runs an interop script to its end and reads the JSON line it prints last.
pub async fn last_json_line(mut cmd: Command) -> serde_json::Value {
    let out = cmd
        .output()
        .await
        .expect("node runs (is Node.js installed and tests/interop set up?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("the interop script printed {stdout:?}"))
}

/// Starts an interop server script that prints `{"url": …}` once it serves (within 60 s): the
/// process (killed when dropped) and that URL.
pub async fn serving(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (is Node.js installed and tests/interop set up?)");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the interop server starts")
        .expect("read stdout")
        .expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("ready line is JSON");
    let url = ready["url"].as_str().expect("url").to_string();
    (child, url)
}

/// Sends signal `name` (`HUP`, `TERM`, `KILL`) to process `pid`, as `kill -<name> <pid>` does;
/// whether it was delivered.
pub fn signal(pid: u32, name: &str) -> bool {
    std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}
