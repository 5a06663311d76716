//! `tollgate demo` in a short run: the whole stack starts, the agent pays in USDC and TMAI and
//! in USDC on Solana, uses receipts, pays a metered search for the rows it returned, and the
//! summary is printed with exit code 0.

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_the_stack_and_prints_the_summary() {
    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["demo", "--calls", "8"])
            .env("RUST_LOG", "warn")
            .output(),
    )
    .await
    .expect("demo finishes within 4 minutes")
    .expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Tollgate demo summary"), "{stdout}");
    assert!(stdout.contains("answered 200          8"), "{stdout}");
    let spent: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("spent "))
        .collect();
    for asset in [" USDC in ", " TMAI in ", " USDC on Solana in "] {
        assert!(
            spent.iter().any(|l| l.contains(asset)),
            "spent{asset}...: {stdout}"
        );
    }
    // AAVE scenarios from the $16T tier up: 3 tiers x 3 cases = 9 rows at $0.002.
    assert!(
        stdout.contains(
            "metered (upto)        0.018 USDC charged of at most 0.048 USDC in 1 payments"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Waiting for first slot"),
        "the validator library's chatter stays out of the terminal: {stdout}"
    );
    let by_receipt: usize = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("unlocked by receipt"))
        .and_then(|n| n.trim().parse().ok())
        .expect("receipt line");
    assert!(
        by_receipt >= 2,
        "the bundle's receipt unlocks later calls: {stdout}"
    );
}
