//! Facilitator benchmark against a local anvil, every facilitator on its DEFAULT configuration
//! (no tuned `receipt_poll_ms`), in one run:
//!
//! 1. `/verify` of valid EIP-3009 payments at 32 connections against the raw `eth_call` ceiling
//!    (the same simulation straight to anvil) with their ratio; Permit2 verify, and `upto`
//!    verify (the same Permit2 payments through the upto proxy) with its ratio to Permit2 exact;
//!    RPC calls per verify; peak RSS.
//! 2. `/settle` with anvil automining at 16 connections: round 1; a burst whose client is
//!    aborted with settles in flight (connections dropped); round 2 right after. Settles/s, p50,
//!    p99 and successes per round, what the cut burst left on chain, the signer's nonces.
//! 3. The official x402 SDK's facilitator (`x402Facilitator` + viem, served by
//!    `tests/interop/sdk_facilitator.mjs`; needs Node.js and `scripts/setup.sh`) on the same
//!    chain with its own funded key, 16 connections, settles/s, p50, p99: once with the viem
//!    account as the SDK's examples make it (concurrent settles collide on the key's nonce, so
//!    many fail) and once with viem's `nonceManager`; the 2x target is taken against the better.
//! 4. Block packing with 2-second blocks, and a summary of issue 11's targets, each marked met
//!    or NOT met.
//!
//! Run (release, the real figures): `cargo bench -p tollgate --bench facilitator`
//! Smoke run on the debug build (figures not representative):
//! `cargo bench --profile dev -p tollgate --bench facilitator -- --quick`
//! `--quick` shortens every run (2 s verify runs, 200 settles a round instead of 2000).

mod fixture;
mod load;
mod rpc_tap;
mod sdk;
mod settle;
mod summary;
mod verify;

use std::time::Duration;

use fixture::chain;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs = Duration::from_secs(if quick { 2 } else { 10 });
    println!(
        "tollgate facilitator bench: default facilitator config, anvil on the same box{}{}\n",
        if quick { ", --quick" } else { "" },
        if cfg!(debug_assertions) {
            "\nDEBUG BUILD: a smoke run, not the real figures (run without --profile dev)"
        } else {
            ""
        }
    );

    let dev = chain(None, 64).await;
    let verified = verify::run(&dev, secs, quick).await;
    drop(dev);

    // Settles run on a fresh chain: ~100k simulations leave anvil slower at building blocks.
    let settled = settle::rounds(quick).await;
    settle::packing(quick).await;
    summary::print(&verified, &settled);
}
