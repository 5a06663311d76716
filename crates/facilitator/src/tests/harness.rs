//! A facilitator over a `FakeChain` and a SQLite ledger in a fresh temporary directory, plus
//! the `/settle` bodies the tests send.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tollgate_proto::Network;
use tollgate_proto::v2::SettleResponse;
use tollgate_store::{Ledger, SettlementRecord};

use super::fake_scheme::FakeChain;
use crate::allow::Allowlist;
use crate::options::FacilitatorOptions;
use crate::scheme::PaymentScheme;
use crate::service::Facilitator;

/// The chain the fake settles on.
pub(crate) const CHAIN_ID: u64 = 31_337;
/// The amount every test payment moves.
pub(crate) const AMOUNT: &str = "10000";
/// The payer every test payment names.
pub(crate) const PAYER: &str = "0x00000000000000000000000000000000000000aa";

/// One facilitator, its fake chain and its ledger, alive for one test.
pub(crate) struct Rig {
    pub(crate) f: Arc<Facilitator>,
    pub(crate) chain: Arc<FakeChain>,
    url: String,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// A facilitator over a fresh ledger and a chain that accepts and mines everything.
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("ledger.db").display()
        );
        let chain = Arc::new(FakeChain::new(Network::evm(CHAIN_ID)));
        let f = facilitator(chain.clone(), &url).await;
        Self {
            f,
            chain,
            url,
            _dir: dir,
        }
    }

    /// A second facilitator instance on the same ledger and chain, as a second process would be.
    pub(crate) async fn another_instance(&self) -> Arc<Facilitator> {
        facilitator(self.chain.clone(), &self.url).await
    }

    /// `/settle` on this rig's facilitator; every settlement outcome is a 200.
    pub(crate) async fn settle(&self, body: &[u8]) -> SettleResponse {
        settle_on(&self.f, body).await
    }

    /// The ledger row of the payment with `nonce`.
    pub(crate) async fn row(&self, nonce: &str) -> Option<SettlementRecord> {
        self.ledger()
            .get(&identity(nonce))
            .await
            .expect("ledger read")
    }

    pub(crate) fn ledger(&self) -> &Ledger {
        self.f.ledger()
    }
}

async fn facilitator(chain: Arc<FakeChain>, url: &str) -> Arc<Facilitator> {
    let ledger = Ledger::connect(url).await.expect("ledger opens");
    let opts = FacilitatorOptions {
        receipt_timeout: Duration::from_millis(50),
        allow: Some(Allowlist::any_asset()),
        ..Default::default()
    };
    let schemes: Vec<Arc<dyn PaymentScheme>> = vec![chain];
    Arc::new(Facilitator::new(schemes, ledger, opts))
}

/// `/settle` on `f`, failing the test on an internal error or a non-200 status.
pub(crate) async fn settle_on(f: &Arc<Facilitator>, body: &[u8]) -> SettleResponse {
    let reply = f.settle(body).await.expect("no internal error");
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

/// The ledger identity the fake gives the payment with `nonce`.
pub(crate) fn identity(nonce: &str) -> String {
    format!("eip155:{CHAIN_ID}/fake/{nonce}")
}

/// A v2 `/settle` body for a payment told apart by `nonce`.
pub(crate) fn payment(nonce: &str) -> Vec<u8> {
    let req = json!({
        "scheme": "exact",
        "network": format!("eip155:{CHAIN_ID}"),
        "amount": AMOUNT,
        "asset": "0x00000000000000000000000000000000000000c0",
        "payTo": "0x00000000000000000000000000000000000000b0",
        "maxTimeoutSeconds": 60,
    });
    let body = json!({
        "x402Version": 2,
        "paymentPayload": {
            "x402Version": 2,
            "accepted": req,
            "payload": { "nonce": nonce, "from": PAYER },
        },
        "paymentRequirements": req,
    });
    serde_json::to_vec(&body).expect("body serializes")
}
