//! A TCP proxy a test controls, standing for an RPC provider that fails: it forwards to a
//! target, holds connections open without answering (a hung provider), closes them at once
//! (a refusing one), or passes a request on and cuts its answer (a link lost mid-call). A switch applies to open keep-alive connections too, since HTTP clients
//! reuse them.

use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::task::Task;

/// What the proxy does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass bytes both ways to the target.
    Forward,
    /// Accept and read nothing, answer nothing, until switched back.
    Hang,
    /// Close every connection as soon as it is accepted.
    Close,
    /// Pass requests on, and close the connection as soon as the target starts to answer: the
    /// target acts on the request, and the client never learns how.
    CutReplies,
}

/// A running proxy on 127.0.0.1; it and its connections stop when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    _task: Task,
}

impl TcpProxy {
    /// Starts forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (mode, rx) = watch::channel(Mode::Forward);
        let task = Task::spawn(accept_loop(listener, target, rx));
        Self {
            addr,
            mode,
            _task: task,
        }
    }

    /// Starts forwarding to the host and port of an `http://` URL.
    pub async fn to_url(url: &str) -> Self {
        let url = reqwest::Url::parse(url).expect("target url");
        let target = url.socket_addrs(|| None).expect("target addr")[0];
        Self::start(target).await
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches every connection, open or future, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, mode: watch::Receiver<Mode>) {
    // Owned here so that aborting this task drops every connection with it.
    let mut conns = JoinSet::new();
    loop {
        if let Ok((sock, _)) = listener.accept().await {
            conns.spawn(serve(sock, target, mode.clone()));
        }
        while conns.try_join_next().is_some() {}
    }
}

/// Serves one client connection as the mode says, following switches.
async fn serve(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let mut held = false;
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Close => return,
            // A connection that has hung keeps no consistent stream: closing it is all that is
            // left once the hang ends.
            Mode::Forward if held => return,
            Mode::Hang => {
                held = true;
                if mode.wait_for(|m| *m != Mode::Hang).await.is_err() {
                    return;
                }
            }
            Mode::CutReplies => {
                held = true;
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut from_client, _) = client.split();
                let (mut answers, mut to_target) = upstream.split();
                let mut first = [0u8; 1];
                tokio::select! {
                    _ = tokio::io::copy(&mut from_client, &mut to_target) => return,
                    _ = answers.read(&mut first) => return,
                    changed = mode.wait_for(|m| *m != Mode::CutReplies) => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
            Mode::Forward => {
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => return,
                    changed = mode.wait_for(|m| *m != Mode::Forward) => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}
