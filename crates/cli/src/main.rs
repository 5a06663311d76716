//! `tollgate`: the command-line entry to every Tollgate service.

#[cfg(feature = "local-stack")]
mod demo;
mod demo_api;
#[cfg(feature = "local-stack")]
mod dev;
mod facilitator;
mod gateway;
mod pay;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "x402 pay-per-call payments: facilitator and tools"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the facilitator (verify and settle x402 payments).
    Facilitator(facilitator::Args),
    /// Run the x402 gateway: a paying reverse proxy in front of an upstream API.
    Gateway(gateway::Args),
    /// Serve the demo metered crypto-analytics API from fixtures.
    DemoApi(demo_api::Args),
    /// Start the whole local stack (anvil, Solana validator, contracts, facilitator, demo API,
    /// gateway).
    #[cfg(feature = "local-stack")]
    Dev(dev::Args),
    /// Start the local stack and run a paying agent against it, then print a summary.
    #[cfg(feature = "local-stack")]
    Demo(demo::Args),
    /// Make one paid request, within explicit spend limits.
    Pay(Box<pay::Args>),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,solana=off,agave=off".into())
                // alloy's HTTP transport opens a debug span carrying the RPC URL (and so any
                // API key in it): never enabled, whatever RUST_LOG says.
                .add_directive(
                    "alloy_transport_http=info"
                        .parse()
                        .expect("static directive"),
                ),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse().cmd).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", reasons(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Facilitator(args) => facilitator::run(args).await,
        Cmd::Gateway(args) => gateway::run(args).await,
        Cmd::DemoApi(args) => demo_api::run(args).await,
        Cmd::Pay(args) => pay::run(*args).await,
        #[cfg(feature = "local-stack")]
        Cmd::Dev(args) => dev::run(args).await,
        #[cfg(feature = "local-stack")]
        Cmd::Demo(args) => demo::run(args).await,
    }
}

/// The error and its causes on one line, each said once: a cause whose text its parent already
/// carries ("refused by spend policy: price ... over the cap" above "price ... over the cap") is
/// not printed again.
fn reasons(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::reasons;

    #[test]
    fn a_cause_the_message_already_carries_is_said_once() {
        let cap = "price 0.068 USDC is over the per-call cap of 0.05 USDC";
        let e = anyhow::anyhow!(cap)
            .context(format!("refused by spend policy: {cap}"))
            .context("paying http://api/x");
        assert_eq!(
            reasons(&e),
            "paying http://api/x: refused by spend policy: price 0.068 USDC is over the per-call cap of 0.05 USDC"
        );
    }
}
