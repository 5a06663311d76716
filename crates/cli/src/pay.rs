//! `tollgate pay URL`: one paid request from the command line, within explicit limits.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use tollgate_client::{
    AssetBook, AssetKey, EvmWallet, PayingClient, SpendPolicy, Spending, SvmWallet,
};
use tollgate_proto::Networks;

/// Options of `tollgate pay`.
#[derive(clap::Args)]
pub struct Args {
    /// The URL to call.
    url: String,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Request body (sent as JSON when it parses as JSON).
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Extra request header `Name: value` (repeatable), e.g. `-H 'x-payment-token: tmai'`.
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Largest single payment, e.g. `0.05 USDC` or `200 TMAI` (repeatable; required).
    #[arg(long, required = true)]
    max: Vec<String>,
    /// Total budget across calls, e.g. `1 USDC` (repeatable; kept in --spending-file).
    #[arg(long)]
    budget: Vec<String>,
    /// Only pay in these asset symbols, in this order of preference.
    #[arg(long)]
    asset: Vec<String>,
    /// Only pay on these networks (CAIP-2 like `eip155:8453`, or v1 names like `base`).
    #[arg(long)]
    network: Vec<String>,
    /// Extra asset `SYMBOL=<caip2>/<address>/<decimals>`, e.g. a local test token.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// File holding the payer's hex key.
    #[arg(long, env = "TOLLGATE_PAYER_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Env variable holding the payer's hex key (when no key file is given).
    #[arg(long, default_value = "TOLLGATE_PAYER_KEY")]
    key_env: String,
    /// Env variable holding the payer's Solana key (base58 or a JSON byte array).
    #[arg(long, default_value = "TOLLGATE_SVM_PAYER_KEY")]
    svm_key_env: String,
    /// Solana JSON-RPC URL the payer reads blockhashes and mints from; Solana offers are paid
    /// only when this and the Solana key are given.
    #[arg(long, env = "TOLLGATE_SVM_RPC_URL")]
    svm_rpc: Option<String>,
    /// EVM JSON-RPC URL of the chain paid on; with it, a payment whose outcome is unknown (a
    /// 402 or 5xx after paying) is given back to the budget once the chain shows it expired
    /// unused. Without it such a payment stays counted as spent.
    #[arg(long, env = "TOLLGATE_EVM_RPC_URL")]
    evm_rpc: Option<String>,
    /// File recording spend per asset, so budgets hold across runs.
    #[arg(long)]
    spending_file: Option<PathBuf>,
}

/// The assets every client knows by symbol.
pub fn default_book() -> AssetBook {
    let mut b = AssetBook::default();
    b.add(
        "USDC",
        "eip155:8453",
        "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        6,
    );
    b.add(
        "USDC",
        "eip155:84532",
        "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        6,
    );
    b.add(
        "USDC",
        "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        6,
    );
    b.add(
        "USDC",
        "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
        "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
        6,
    );
    b
}

/// Adds `SYMBOL=<caip2>/<address>/<decimals>` to the book.
fn add_token(book: &mut AssetBook, spec: &str) -> anyhow::Result<()> {
    let (symbol, rest) = spec
        .split_once('=')
        .context("--token wants SYMBOL=<caip2>/<address>/<decimals>")?;
    let mut parts = rest.rsplitn(3, '/');
    let (Some(decimals), Some(address), Some(network)) = (parts.next(), parts.next(), parts.next())
    else {
        bail!("--token {spec:?}: want SYMBOL=<caip2>/<address>/<decimals>");
    };
    let decimals: u8 = decimals
        .parse()
        .with_context(|| format!("--token {spec:?}: decimals"))?;
    book.add(symbol, network, address, decimals);
    Ok(())
}

/// Builds the policy from the flags.
fn policy(args: &Args) -> anyhow::Result<SpendPolicy> {
    let mut book = default_book();
    for t in &args.tokens {
        add_token(&mut book, t)?;
    }
    let mut p = SpendPolicy::capped(book, &args.max, &args.budget)?;
    if !args.network.is_empty() {
        let names = Networks::default();
        let nets = args.network.iter().map(|n| {
            names
                .resolve_v1(n)
                .map(|n| n.caip2().to_string())
                .with_context(|| format!("unknown network {n}"))
        });
        p.networks = Some(nets.collect::<anyhow::Result<_>>()?);
    }
    if !args.asset.is_empty() {
        let keys: Vec<AssetKey> = args
            .asset
            .iter()
            .flat_map(|sym| p.book.parse_limit(&format!("0 {sym}")).unwrap_or_default())
            .map(|(k, _)| k)
            .collect();
        if keys.is_empty() {
            bail!("none of --asset {:?} is a known asset", args.asset);
        }
        p.prefer = keys.clone();
        p.assets = Some(keys);
    }
    Ok(p)
}

/// Makes the paid request and prints the response body, with what was paid on stderr.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let policy = policy(&args)?;
    let evm = match &args.key_file {
        Some(f) => Some(EvmWallet::from_file(f)?),
        None if std::env::var_os(&args.key_env).is_some() => {
            Some(EvmWallet::from_env(&args.key_env)?)
        }
        None => None,
    };
    let evm = match (evm, &args.evm_rpc) {
        (Some(w), Some(rpc)) => Some(w.with_rpc(rpc)?),
        (w, _) => w,
    };
    let svm = match (&args.svm_rpc, std::env::var(&args.svm_key_env)) {
        (Some(rpc), Ok(key)) => Some(SvmWallet::from_text(&key, rpc)?),
        _ => None,
    };
    if evm.is_none() && svm.is_none() {
        bail!(
            "no payer key: set {} (EVM hex key) or --key-file, and/or {} with --svm-rpc",
            args.key_env,
            args.svm_key_env
        );
    }
    let spending = Arc::new(match &args.spending_file {
        Some(f) => Spending::in_file(f),
        None => Spending::in_memory(),
    });
    let client = PayingClient::with_wallets(evm, svm, policy, spending);
    let method: reqwest::Method = args.method.parse().context("--method")?;
    let mut req = client.http().request(method, &args.url);
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .with_context(|| format!("header {h:?} wants `Name: value`"))?;
        req = req.header(k.trim(), v.trim());
    }
    if let Some(d) = &args.data {
        req = match serde_json::from_str::<serde_json::Value>(d) {
            Ok(json) => req.json(&json),
            Err(_) => req.body(d.clone()),
        };
    }
    let paid = client.execute(req.build()?).await?;
    let status = paid.response.status();
    if let Some(p) = &paid.payment {
        let tx = p
            .settlement
            .as_ref()
            .map(|s| s.transaction.as_str())
            .unwrap_or("");
        eprintln!(
            "paid {} on {} to {} (tx {})",
            p.display,
            p.asset.network,
            p.pay_to,
            if tx.is_empty() { "-" } else { tx }
        );
    }
    let body = paid.response.text().await?;
    eprintln!("HTTP {status}");
    println!("{body}");
    if !status.is_success() {
        bail!("server answered {status}");
    }
    Ok(())
}
