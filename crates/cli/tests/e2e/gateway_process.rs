//! A `tollgate gateway` process as an operator runs it: started from a config file, its stderr
//! kept for assertions, and sent real signals.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tollgate_e2e::process::listening_url;

/// The start of a gateway config as these tests write it: a free port, `upstream`, the remote
/// `facilitator`, `assets` (`[pay_to]` and `[[assets]]`) and `routes`; a `[receipts]` section
/// may follow.
pub fn config_head(upstream: &str, facilitator: &str, assets: &str, routes: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
upstream = "{upstream}"
public_url = "http://gateway.test"

[facilitator]
url = "{facilitator}"
{assets}
{routes}"#
    )
}

/// A running `tollgate gateway` with its stderr collected.
pub struct Gateway {
    pub child: Child,
    /// `http://127.0.0.1:port`, as the gateway printed it.
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Reads stderr into `log` until the process closes it.
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// Starts the gateway and waits (at most 60 s) until it says where it listens.
    pub async fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("gateway")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn tollgate");
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let sink = log.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = err.next_line().await {
                eprintln!("gateway: {line}");
                sink.lock().expect("log").push(line);
            }
        });
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = listening_url(&mut out, "Gateway").await;
        tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
        Self {
            child,
            url,
            log,
            reader: Some(reader),
        }
    }

    /// Waits (at most `within`) for the process to exit and for its last log line to be read.
    pub async fn exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .expect("the gateway exits in time")
            .expect("wait");
        if let Some(reader) = self.reader.take() {
            reader.await.expect("log reader");
        }
        status
    }

    /// Sends a signal by name (`HUP`, `TERM`, `KILL`), as `kill -<name> <pid>` does.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running");
        assert!(tollgate_e2e::process::signal(pid, name), "SIG{name} sent");
    }

    /// Whether a log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log
            .lock()
            .expect("log")
            .iter()
            .any(|l| l.contains(needle))
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}
