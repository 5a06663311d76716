//! `tollgate demo`: starts the local stack, then an agent buys a mix of calls in USDC and TMAI
//! under a hard spend limit, and a summary shows what it bought and what it cost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tollgate_client::{AssetBook, EvmWallet, PayingClient, SpendPolicy, Spending};
use tollgate_proto::{TokenAmount, U256};

use crate::dev::{self, CHAIN_ID, Stack};

/// Options of `tollgate demo`.
#[derive(clap::Args)]
pub struct Args {
    /// How many calls the agent makes.
    #[arg(long, default_value_t = 24)]
    calls: usize,
}

/// The agent's shopping list: (path, preferred token).
const PLAN: &[(&str, &str)] = &[
    ("/v2/trading-signals", "usdc"),
    ("/v2/trading-signals", "tmai"),
    ("/v2/grades/AAVE", "usdc"),
    ("/v2/price-prediction/AAVE", "usdc"),
    ("/v2/fundamental-grade/AAVE", "usdc"),
    ("/v2/price-prediction/CRO", "usdc"),
    ("/v2/grades/CRO", "tmai"),
    ("/v2/fundamental-grade/CRO", "usdc"),
];

struct Call {
    path: &'static str,
    took: Duration,
    status: u16,
    paid: Option<(String, U256, String)>,
    receipt: bool,
}

fn policy(s: &Stack) -> anyhow::Result<SpendPolicy> {
    let mut book = AssetBook::default();
    let net = format!("eip155:{CHAIN_ID}");
    book.add("USDC", &net, &s.dev.usdc.address.to_string(), 6);
    book.add("TMAI", &net, &s.dev.tmai.address.to_string(), 18);
    let mut p = SpendPolicy {
        book: book.clone(),
        ..Default::default()
    };
    for cap in ["0.1 USDC", "100 TMAI"] {
        p.per_call.extend(book.parse_limit(cap)?);
    }
    for budget in ["5 USDC", "2000 TMAI"] {
        p.budget.extend(book.parse_limit(budget)?);
    }
    p.networks = Some(vec![net]);
    Ok(p)
}

/// Runs the stack and the agent; prints the summary; exits non-zero if any call failed.
pub async fn run(args: Args) -> anyhow::Result<()> {
    eprintln!("starting the local stack (anvil, contracts, facilitator, demo API, gateway)...");
    let stack = dev::start().await?;
    let wallet = EvmWallet::from_hex(&alloy::hex::encode(stack.payer.to_bytes()))?;
    let client = PayingClient::new(wallet, policy(&stack)?, Arc::new(Spending::in_memory()));
    let bar = ProgressBar::new(args.calls as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("template"));
    let mut calls = Vec::new();
    for i in 0..args.calls {
        let (path, token) = PLAN[i % PLAN.len()];
        bar.set_message(format!("{path} ({token})"));
        let req = client
            .http()
            .get(format!("{}{path}", stack.gateway_url))
            .header("x-payment-token", token)
            .build()?;
        let t = Instant::now();
        let out = client.execute(req).await?;
        let status = out.response.status().as_u16();
        let paid = out.payment.map(|p| {
            let tx = p.settlement.map(|s| s.transaction).unwrap_or_default();
            (p.asset.asset, p.amount, tx)
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
    let symbol = |a: &str| if a == usdc { ("USDC", 6) } else { ("TMAI", 18) };
    let mut spent: BTreeMap<&str, (U256, u8, usize)> = BTreeMap::new();
    for (asset, amount, _) in calls.iter().filter_map(|c| c.paid.as_ref()) {
        let (sym, dec) = symbol(asset);
        let e = spent.entry(sym).or_insert((U256::ZERO, dec, 0));
        e.0 += *amount;
        e.2 += 1;
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
            "  spent {sym:<5}           {} {sym} in {n} payments",
            TokenAmount::from_atomic(*amount, *dec)
        );
    }
    println!(
        "  latency p50 / p99     {:.1} ms / {:.1} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    println!("  Solana USDC           not offered: the Solana scheme is not built yet");
    println!(
        "\n  {:<30} {:>6}  {:<22} transaction",
        "call", "status", "paid"
    );
    for c in calls {
        let (paid, tx) = match &c.paid {
            Some((a, amt, tx)) => {
                let (sym, dec) = symbol(a);
                (
                    format!("{} {sym}", TokenAmount::from_atomic(*amt, dec)),
                    tx.clone(),
                )
            }
            None if c.receipt => ("receipt".to_string(), String::new()),
            None => ("-".to_string(), String::new()),
        };
        println!("  {:<30} {:>6}  {:<22} {tx}", c.path, c.status, paid);
    }
}
