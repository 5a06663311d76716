//! The verify half: raw `eth_call` ceiling, `/verify` of valid EIP-3009, Permit2 and `upto`
//! payments, RPC calls per verify.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use serde_json::{Value, json};
use tollgate_devnet::DevEvm;
use tollgate_e2e::{Payment, Permit2Payment};
use tollgate_proto::Network;

use crate::fixture::{CONNS, bodies, facilitator, payments, peak_rss_mb};
use crate::{load, rpc_tap};

/// What the summary needs from the verify half.
pub struct Figures {
    pub eth_call_per_sec: f64,
    pub verify_per_sec: f64,
}

/// Runs every verify measurement on `dev` and prints it.
pub async fn run(dev: &DevEvm, secs: Duration, quick: bool) -> Figures {
    let verify_set = payments(dev, 4096);
    let baseline = load::run(
        &dev.anvil.rpc_url,
        eth_calls(dev, &verify_set),
        CONNS,
        secs,
        true,
        |v| v.get("result").is_some(),
    )
    .await;
    println!("{}", baseline.line("baseline: raw eth_call to anvil"));
    let batched = load::run(
        &dev.anvil.rpc_url,
        batches(&eth_calls(dev, &verify_set), 8),
        CONNS,
        secs,
        true,
        |v| v.is_array(),
    )
    .await;
    println!(
        "{}",
        batched.line("baseline: eth_call in JSON-RPC batches of 8")
    );
    println!("    = {:.0} eth_calls/s", batched.per_sec() * 8.0);

    let mut f = facilitator(dev, &dev.anvil.rpc_url).await;
    let verify = verify_run(
        &f.url,
        bodies(&verify_set),
        secs,
        "/verify (valid EIP-3009, one simulation each)",
    )
    .await;
    println!(
        "    verify throughput is {:.2} x the raw eth_call ceiling",
        verify.per_sec() / baseline.per_sec()
    );

    let n = if quick { 512 } else { 4096 };
    let permit2_set = permit2_payments(dev, n, Scheme::Exact).await;
    let exact = verify_run(
        &f.url,
        Arc::new(permit2_set),
        secs,
        "/verify (valid Permit2 TMAI, one simulation each)",
    )
    .await;
    let upto_set = permit2_payments(dev, n, Scheme::Upto).await;
    let upto = verify_run(
        &f.url,
        Arc::new(upto_set),
        secs,
        "/verify (valid upto TMAI, one simulation each)",
    )
    .await;
    println!(
        "    upto verify throughput is {:.2} x Permit2 exact",
        upto.per_sec() / exact.per_sec()
    );

    let (tap_url, counts) = rpc_tap::start(&dev.anvil.rpc_url).await;
    let tapped = facilitator(dev, &tap_url).await;
    let before = counts.read();
    let n = 200;
    let tap_run = load::run(
        &format!("{}/verify", tapped.url),
        bodies(&verify_set[..n]),
        1,
        Duration::from_secs(60),
        false,
        |v| v["isValid"] == json!(true),
    )
    .await;
    let after = counts.read();
    println!(
        "RPC per valid verify: {:.2} calls in {:.2} round trips ({} verifies, {} valid)",
        (after.0 - before.0) as f64 / n as f64,
        (after.1 - before.1) as f64 / n as f64,
        n,
        tap_run.ok
    );
    drop(tapped);

    println!(
        "facilitator peak RSS after the verify runs: {:.1} MB",
        peak_rss_mb(&f.child)
    );
    let _ = f.child.kill().await;
    Figures {
        eth_call_per_sec: baseline.per_sec(),
        verify_per_sec: verify.per_sec(),
    }
}

/// Verifies `bodies` at `CONNS` connections for `secs`, cycling, and prints the figures.
async fn verify_run(
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    secs: Duration,
    what: &str,
) -> load::Report {
    let r = load::run(&format!("{url}/verify"), bodies, CONNS, secs, true, |v| {
        v["isValid"] == json!(true)
    })
    .await;
    println!("{}", r.line(what));
    r
}

/// Which Permit2 payment a verify set holds.
#[derive(Clone, Copy)]
enum Scheme {
    Exact,
    /// `upto` for the same maximum, pinned to the facilitator's key.
    Upto,
}

/// Valid Permit2 TMAI payments: every payer holds TMAI and has approved Permit2 once.
async fn permit2_payments(dev: &DevEvm, n: usize, scheme: Scheme) -> Vec<Vec<u8>> {
    let tmai = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64));
    for p in &dev.payers {
        dev.mint(dev.tmai.address, p.address(), tmai)
            .await
            .expect("mint TMAI");
        dev.approve_permit2(p, dev.tmai.address, U256::MAX)
            .await
            .expect("approve Permit2");
    }
    let net = Network::evm(dev.anvil.chain_id);
    let amount = U256::from(153u64) * U256::from(10u64).pow(U256::from(16u64)); // 1.53 TMAI
    (0..n)
        .map(|i| {
            let payer = dev.payers[i % dev.payers.len()].clone();
            let p = match scheme {
                Scheme::Exact => Permit2Payment::new(dev, &net, payer, amount),
                Scheme::Upto => {
                    let settler = dev.facilitator.address();
                    Permit2Payment::upto(dev, &net, payer, amount, settler)
                }
            };
            serde_json::to_vec(&p.v2()).expect("json")
        })
        .collect()
}

/// The `eth_call` a verify makes, as raw JSON-RPC bodies.
fn eth_calls(dev: &DevEvm, p: &[Payment]) -> Arc<Vec<Vec<u8>>> {
    let to = dev.usdc.address;
    Arc::new(
        p.iter()
            .map(|p| {
                let data = tollgate_evm::eip3009::transfer_calldata(&p.auth, &p.signature_bytes());
                let call = json!({"from": dev.facilitator.address(), "to": to,
                    "input": format!("0x{}", alloy::hex::encode(data))});
                serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                    "params": [call, "latest"]}))
                .expect("json")
            })
            .collect(),
    )
}

/// Groups single JSON-RPC bodies into batch bodies of `n` calls.
fn batches(single: &[Vec<u8>], n: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        single
            .chunks(n)
            .map(|c| {
                let calls: Vec<Value> = c
                    .iter()
                    .map(|b| serde_json::from_slice(b).expect("json"))
                    .collect();
                serde_json::to_vec(&calls).expect("json")
            })
            .collect(),
    )
}
