//! The facilitator process dies after broadcasting and before recording the result; on restart
//! it finds the payment, records it as settled with its hash, and never broadcasts it again.

use std::path::Path;
use std::time::Duration;

use alloy::primitives::U256;
use serde_json::json;
use tokio::process::Child;
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_e2e::process::{post_settle as settle, spawn_facilitator};
use tollgate_e2e::wait::finished;
use tollgate_e2e::{Db, Payment, TestDb, both_stores};
use tollgate_proto::{Network, reason};
use tollgate_store::{Ledger, SettlementState};

struct Setup {
    dev: DevEvm,
    db_url: String,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _db: TestDb,
}

impl Setup {
    /// A fresh chain with two funded payers, a ledger of kind `db` and a facilitator config;
    /// `None` when that kind of database is not available here.
    async fn new(db: Db) -> Option<Self> {
        let test_db = TestDb::create(db).await?;
        let anvil = Anvil::start(AnvilOptions::default()).await.expect("anvil");
        let dev = DevEvm::start(anvil, 2, U256::from(1_000_000u64))
            .await
            .expect("dev chain");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("facilitator.toml");
        std::fs::write(
            &config,
            "listen = \"127.0.0.1:0\"\nreceipt_timeout_secs = 10\nallow_any_asset = true\nclose_endpoint = true\n",
        )
        .expect("config");
        Some(Self {
            dev,
            db_url: test_db.url.clone(),
            config,
            _dir: dir,
            _db: test_db,
        })
    }

    /// A payment of 0.017 USDC from payer `i`, in its v2 request form.
    fn payment(&self, i: usize) -> serde_json::Value {
        Payment::new(
            &self.dev,
            &Network::evm(31337),
            self.dev.payers[i].clone(),
            U256::from(PRICE),
        )
        .v2()
    }

    /// USDC the payee holds.
    async fn paid(&self) -> U256 {
        let dev = &self.dev;
        dev.balance(dev.usdc.address, dev.pay_to).await.unwrap()
    }

    /// Transactions the facilitator's key has sent.
    async fn sent(&self) -> u64 {
        self.dev
            .tx_count(self.dev.facilitator.address())
            .await
            .unwrap()
    }
}

/// 0.017 USDC in atomic units.
const PRICE: u64 = 17_000;

/// Starts the facilitator binary on the test chain and ledger.
async fn start(s: &Setup, failpoint: Option<&str>) -> (Child, String) {
    let mut envs = vec![
        ("EVM_NETWORK", "eip155:31337".to_string()),
        ("EVM_RPC_URL", s.dev.anvil.rpc_url.clone()),
        (
            "EVM_PRIVATE_KEY",
            alloy::hex::encode(s.dev.facilitator.to_bytes()),
        ),
        ("DATABASE_URL", s.db_url.clone()),
    ];
    if let Some(fp) = failpoint {
        envs.push(("TOLLGATE_FAILPOINT", fp.to_string()));
    }
    spawn_facilitator(Path::new(env!("CARGO_BIN_EXE_tollgate")), &s.config, &envs).await
}

both_stores!(
    crash_after_broadcast_is_recovered_without_rebroadcast,
    s = Setup::new,
    {
        let body = s.payment(0);

        let (mut child, url) = start(&s, Some("after_broadcast")).await;
        assert!(
            settle(&url, &body).await.is_err(),
            "the process dies before answering"
        );
        let status = child.wait().await.expect("wait");
        assert_eq!(status.code(), Some(86), "died at the failpoint");

        assert_eq!(s.paid().await, U256::from(PRICE));
        let ledger = Ledger::connect(&s.db_url).await.expect("ledger");
        let open = ledger.unfinished().await.expect("unfinished");
        assert_eq!(open.len(), 1, "broadcast but unrecorded");
        let hash = open[0]
            .tx_hash
            .clone()
            .expect("hash recorded before broadcast");

        let (mut child, url) = start(&s, None).await;
        // Start-up reconciliation runs beside serving, not before it.
        let rec = finished(&ledger, &open[0].id, Duration::from_secs(30))
            .await
            .expect("reconciled soon after start");
        assert_eq!(rec.state, SettlementState::Settled, "reconciled at start");
        assert_eq!(rec.tx_hash.as_deref(), Some(hash.as_str()));

        let again = settle(&url, &body).await.expect("answer");
        assert_eq!(again["success"], json!(false));
        assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
        assert_eq!(again["transaction"], json!(hash));
        assert_eq!(s.sent().await, 1, "never rebroadcast as a new tx");
        assert_eq!(s.paid().await, U256::from(PRICE));

        let closed = reqwest::Client::new()
            .post(format!("{url}/close"))
            .send()
            .await
            .expect("close");
        assert_eq!(closed.status().as_u16(), 200);
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("stops")
            .expect("wait");
        assert!(status.success(), "graceful stop after POST /close");
    }
);

// The process dies after claiming a payment and before sending it: the node never saw that
// transaction, so its pending count does not include the nonce. On restart a new payment must
// not take that nonce: both the recorded one (sent by the reconciler) and the new one land.
both_stores!(
    crash_between_claim_and_broadcast_keeps_its_nonce,
    s = Setup::new,
    {
        let (first, second) = (s.payment(0), s.payment(1));

        let (mut child, url) = start(&s, Some("after_claim")).await;
        assert!(settle(&url, &first).await.is_err(), "dies before answering");
        assert_eq!(child.wait().await.expect("wait").code(), Some(86));
        assert_eq!(s.sent().await, 0);

        let (_child, url) = start(&s, None).await;
        let answer = settle(&url, &second).await.expect("answer");
        assert_eq!(answer["success"], json!(true), "{answer}");
        let ledger = Ledger::connect(&s.db_url).await.expect("ledger");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while ledger.pending_count().await.unwrap() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "reconciled");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let again = settle(&url, &first).await.expect("answer");
        assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
        assert_eq!(
            again["extra"]["settlementState"],
            json!("settled"),
            "{again}"
        );
        assert_eq!(
            s.paid().await,
            U256::from(2 * PRICE),
            "both payments landed"
        );
        assert_eq!(s.sent().await, 2);
    }
);
