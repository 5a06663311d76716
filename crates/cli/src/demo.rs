//! `tollgate demo`: starts the local stack, then an agent buys a mix of calls in USDC and TMAI
//! on the EVM chain and USDC on Solana under a hard spend limit, and a summary shows what it
//! bought and what it cost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tollgate_client::{
    AssetBook, AssetKey, EvmWallet, PayingClient, SpendPolicy, Spending, SvmWallet,
};
use tollgate_proto::{TokenAmount, U256};

use crate::dev::{self, CHAIN_ID, Stack};

/// Options of `tollgate demo`.
#[derive(clap::Args)]
pub struct Args {
    /// How many calls the agent makes.
    #[arg(long, default_value_t = 24)]
    calls: usize,
}

/// The agent's shopping list: (path, preferred token; `sol` pays USDC on Solana).
const PLAN: &[(&str, &str)] = &[
    ("/v2/trading-signals", "usdc"),
    ("/v2/trading-signals", "tmai"),
    ("/v2/trading-signals", "sol"),
    ("/v2/scenario-search?symbol=AAVE&min_cap=16", "usdc"),
    ("/v2/grades/CRO", "sol"),
    ("/v2/price-prediction/AAVE", "usdc"),
    ("/v2/fundamental-grade/AAVE", "usdc"),
    ("/v2/price-prediction/CRO", "usdc"),
    ("/v2/scenario-search?case=moon", "tmai"),
    ("/v2/grades/AAVE", "usdc"),
    ("/v2/grades/CRO", "tmai"),
    ("/v2/fundamental-grade/CRO", "usdc"),
];

struct Call {
    path: &'static str,
    took: Duration,
    status: u16,
    paid: Option<Paid>,
    receipt: bool,
}

/// What one call paid: the charge, the most it could have cost (more on a metered route), and
/// the settlement transaction (none when nothing was charged).
struct Paid {
    asset: AssetKey,
    charged: U256,
    max: U256,
    tx: String,
}

fn policy(s: &Stack) -> anyhow::Result<SpendPolicy> {
    let mut book = AssetBook::default();
    let net = format!("eip155:{CHAIN_ID}");
    let sol = s.solana.network.caip2().to_string();
    book.add("USDC", &net, &s.dev.usdc.address.to_string(), 6);
    book.add("TMAI", &net, &s.dev.tmai.address.to_string(), 18);
    book.add("USDC", &sol, &s.solana.usdc.mint.to_string(), 6);
    let mut p = SpendPolicy::capped(book, &["0.1 USDC", "100 TMAI"], &["5 USDC", "2000 TMAI"])?;
    p.networks = Some(vec![net, sol]);
    Ok(p)
}

/// Runs the stack and the agent; prints the summary; exits non-zero if any call failed.
pub async fn run(args: Args) -> anyhow::Result<()> {
    eprintln!("starting the local stack (anvil, contracts, facilitator, demo API, gateway)...");
    let stack = dev::start().await?;
    let evm = EvmWallet::from_hex(&alloy::hex::encode(stack.payer.to_bytes()))?;
    let svm = SvmWallet::from_text(
        &stack.solana.usdc.payer.to_base58_string(),
        &stack.solana.devnet.rpc_url(),
    )?;
    // One budget, two wallets: each client pays only on the chain it holds a key for.
    let spending = Arc::new(Spending::in_memory());
    let client = PayingClient::with_wallets(Some(evm), None, policy(&stack)?, spending.clone());
    let sol_client = PayingClient::with_wallets(None, Some(svm), policy(&stack)?, spending);
    let bar = ProgressBar::new(args.calls as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("template"));
    let mut calls = Vec::new();
    for i in 0..args.calls {
        let (path, token) = PLAN[i % PLAN.len()];
        bar.set_message(format!("{path} ({token})"));
        let (client, token) = match token {
            "sol" => (&sol_client, "usdc"),
            _ => (&client, token),
        };
        let req = client
            .http()
            .get(format!("{}{path}", stack.gateway_url))
            .header(tollgate_proto::headers::PAYMENT_TOKEN, token)
            .build()?;
        let t = Instant::now();
        let out = client.execute(req).await?;
        let status = out.response.status().as_u16();
        let paid = out.payment.map(|p| Paid {
            tx: p.settlement.map(|s| s.transaction).unwrap_or_default(),
            asset: p.asset,
            charged: p.amount,
            max: p.authorized,
        });
        let _ = out.response.bytes().await?;
        calls.push(Call {
            path,
            took: t.elapsed(),
            status,
            paid,
            receipt: out.receipt_used,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    print_summary(&stack, &calls);
    let failed = calls.iter().filter(|c| c.status >= 400).count();
    anyhow::ensure!(failed == 0, "{failed} calls failed");
    Ok(())
}

fn print_summary(s: &Stack, calls: &[Call]) {
    let usdc = s.dev.usdc.address.to_string().to_lowercase();
    let symbol = |k: &AssetKey| match k {
        k if k.network.starts_with("solana:") => ("USDC on Solana", 6),
        k if k.asset == usdc => ("USDC", 6),
        _ => ("TMAI", 18),
    };
    let mut spent: BTreeMap<&str, (U256, u8, usize)> = BTreeMap::new();
    let mut metered: BTreeMap<&str, (U256, U256, u8, usize)> = BTreeMap::new();
    for p in calls.iter().filter_map(|c| c.paid.as_ref()) {
        let (sym, dec) = symbol(&p.asset);
        let e = spent.entry(sym).or_insert((U256::ZERO, dec, 0));
        e.0 += p.charged;
        e.2 += 1;
        if p.max != p.charged {
            let m = metered
                .entry(sym)
                .or_insert((U256::ZERO, U256::ZERO, dec, 0));
            m.0 += p.charged;
            m.1 += p.max;
            m.3 += 1;
        }
    }
    let mut lat: Vec<Duration> = calls.iter().map(|c| c.took).collect();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    println!("\nTollgate demo summary");
    println!("  calls made            {}", calls.len());
    println!(
        "  answered 200          {}",
        calls.iter().filter(|c| c.status == 200).count()
    );
    println!(
        "  paid on chain         {}",
        calls.iter().filter(|c| c.paid.is_some()).count()
    );
    println!(
        "  unlocked by receipt   {}",
        calls.iter().filter(|c| c.receipt).count()
    );
    for (sym, (amount, dec, n)) in &spent {
        println!(
            "  spent                 {} {sym} in {n} payments",
            TokenAmount::from_atomic(*amount, *dec)
        );
    }
    println!(
        "  latency p50 / p99     {:.1} ms / {:.1} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    for (sym, (charged, max, dec, n)) in &metered {
        let show = |a: &U256| TokenAmount::from_atomic(*a, *dec);
        println!(
            "  metered (upto)        {} {sym} charged of at most {} {sym} in {n} payments",
            show(charged),
            show(max)
        );
    }
    println!(
        "\n  {:<44} {:>6}  {:<30} transaction",
        "call", "status", "paid"
    );
    for c in calls {
        let (paid, tx) = match &c.paid {
            Some(p) => {
                let (sym, dec) = symbol(&p.asset);
                let show = |a: U256| TokenAmount::from_atomic(a, dec);
                let mut paid = format!("{} {sym}", show(p.charged));
                if p.max != p.charged {
                    paid = format!("{} of max {}", paid, show(p.max));
                }
                (paid, p.tx.clone())
            }
            None if c.receipt => ("receipt".to_string(), String::new()),
            None => ("-".to_string(), String::new()),
        };
        println!("  {:<44} {:>6}  {:<30} {tx}", c.path, c.status, paid);
    }
}
