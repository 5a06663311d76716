//! `tollgate demo-api`: the demo metered crypto-analytics API (crate `tollgate-demo-api`), to put
//! a gateway in front of.

use std::path::PathBuf;

use anyhow::Context;
use tollgate_demo_api::Demo;

/// Options of `tollgate demo-api`.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// Facts JSON to serve instead of the copy built into the binary.
    #[arg(long)]
    fixtures: Option<PathBuf>,
}

/// Serves the demo API until ctrl-c.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let demo = match &args.fixtures {
        Some(p) => Demo::load(p).with_context(|| format!("reading {}", p.display()))?,
        None => Demo::embedded(),
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    println!("Demo API listening on http://{}", listener.local_addr()?);
    tokio::select! {
        r = axum::serve(listener, tollgate_demo_api::router(demo)) => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
