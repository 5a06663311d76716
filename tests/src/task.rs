//! A background task that lives exactly as long as what owns it: servers and proxies the tests
//! start stop when their handle is dropped, even when a test fails halfway.

use std::fmt::Debug;
use std::future::{Future, IntoFuture};

use tokio::net::TcpListener;

/// A listener on a free loopback port, and its base URL (`http://127.0.0.1:<port>`).
pub async fn loopback() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, url)
}

/// A spawned task, aborted when dropped.
pub struct Task(tokio::task::JoinHandle<()>);

impl Task {
    /// Spawns `work` on the test's runtime.
    pub fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(work))
    }

    /// Spawns a server that must not fail: its error, named by `what`, panics the task.
    pub fn serve<S, E>(server: S, what: &'static str) -> Self
    where
        S: IntoFuture<Output = Result<(), E>>,
        S::IntoFuture: Send + 'static,
        E: Debug,
    {
        let running = server.into_future();
        Self::spawn(async move { running.await.expect(what) })
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}
