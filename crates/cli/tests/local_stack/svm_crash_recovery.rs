//! Solana: the facilitator binary (configured only by `SVM_*` variables) dies after sending a
//! settlement and before recording it; on restart it finds the transaction by its signature,
//! records it as settled, and a repeat is answered as a duplicate with the same signature.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tokio::process::Child;
use tollgate_e2e::process::{post_settle as settle, spawn_facilitator};
use tollgate_e2e::wait::finished;
use tollgate_e2e::{Db, TestDb};
use tollgate_proto::reason;
use tollgate_solana::Signer;
use tollgate_solana::programs::TOKEN;
use tollgate_solana_devnet::{PAYER_USDC, SplPayment};
use tollgate_store::{Ledger, SettlementState};

async fn start(
    env: &SplPayment,
    db_url: &str,
    config: &Path,
    failpoint: Option<&str>,
) -> (Child, String) {
    let mut envs = vec![
        ("SVM_RPC_URL", env.devnet.rpc_url()),
        ("SVM_NETWORK", env.network.caip2().to_string()),
        ("SVM_PRIVATE_KEY", env.fee_payer.to_base58_string()),
        ("DATABASE_URL", db_url.to_string()),
    ];
    if let Some(fp) = failpoint {
        envs.push(("TOLLGATE_FAILPOINT", fp.to_string()));
    }
    spawn_facilitator(Path::new(env!("CARGO_BIN_EXE_tollgate")), config, &envs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svm_crash_after_send_is_recovered_by_signature() {
    let env = SplPayment::fund_under(&TOKEN).await.unwrap();
    let db = TestDb::create(Db::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("facilitator.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nreceipt_timeout_secs = 20\nallow_any_asset = true\n",
    )
    .unwrap();
    let tx = env.sign(&env.order(17_000)).await;
    let body = env.v2(&tx, &env.requirements(17_000, None));

    let (mut child, url) = start(&env, &db.url, &config, Some("after_broadcast")).await;
    assert!(
        settle(&url, &body).await.is_err(),
        "the process dies before answering"
    );
    assert_eq!(
        child.wait().await.unwrap().code(),
        Some(86),
        "died at the failpoint"
    );
    let ledger = Ledger::connect(&db.url).await.unwrap();
    let open = ledger.unfinished().await.unwrap();
    assert_eq!(open.len(), 1, "sent but unrecorded");
    let signature = open[0]
        .tx_hash
        .clone()
        .expect("signature recorded before sending");
    assert_eq!(
        signature,
        env.fee_payer
            .sign_message(&tx.message.serialize())
            .to_string()
    );

    let (_child, url) = start(&env, &db.url, &config, None).await;
    // Start-up reconciliation runs beside serving, not before it.
    let rec = finished(&ledger, &open[0].id, Duration::from_secs(30))
        .await
        .expect("reconciled soon after start");
    assert_eq!(rec.state, SettlementState::Settled, "reconciled at start");
    assert_eq!(env.balances().await, (PAYER_USDC - 17_000, 17_000));
    let again = tokio::time::timeout(Duration::from_secs(30), settle(&url, &body))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again["errorReason"],
        json!(reason::DUPLICATE_SETTLEMENT),
        "{again}"
    );
    assert_eq!(again["transaction"], json!(signature));
    assert_eq!(env.balances().await, (PAYER_USDC - 17_000, 17_000));
}
