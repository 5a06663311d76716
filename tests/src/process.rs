//! Runs the `tollgate` binary as its own process, as an operator would.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(rest) = line.split("Facilitator listening on ").nth(1) {
                return rest.trim().to_string();
            }
        }
        panic!("facilitator exited before listening");
    })
    .await
    .expect("facilitator starts within 60 s");
    (child, url)
}
