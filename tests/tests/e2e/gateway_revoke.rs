//! A bundle sold on a settlement that is still pending is revoked if that settlement fails: the
//! payer moves its whole balance away in a transaction that outbids the settlement, the
//! settlement reverts, the facilitator records it failed, and the gateway's checker (driven here
//! through `check_pending_now`, never by sleeping) revokes the receipt: no further call is served.

use std::collections::HashSet;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use serde_json::{Value, json};
use tollgate_e2e::gateway::*;
use tollgate_e2e::{Db, Env, EnvOptions, TestDb, both_stores};
use tollgate_facilitator::reconcile_once;
use tollgate_gateway::CheckSummary;
use tollgate_store::GatewayStore;

alloy::sol! {
    #[sol(rpc)]
    interface IErc20 {
        function transfer(address to, uint256 amount) external returns (bool);
    }
}

/// Where the payer's drained balance goes.
const SINK: Address = Address::repeat_byte(0x5e);
const GWEI: u128 = 1_000_000_000;

async fn rpc(env: &Env, method: &str, params: Value) {
    env.dev
        .anvil
        .provider()
        .raw_request::<_, Value>(method.to_string().into(), params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"));
}

/// A world whose chain mines only on `evm_mine`, so every settlement answers pending.
async fn pending_world(db: Db) -> Option<World> {
    let opts = EnvOptions {
        receipt_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let env = Env::start_with(db, opts).await?;
    rpc(&env, "evm_setAutomine", json!([false])).await;
    Some(world_on(env, 1).await)
}

/// Buys the prediction bundle as payer 0; the settlement answer is pending, the receipt issued.
async fn buy_on_pending(w: &World) -> String {
    let url = format!("{}/v2/price-prediction/aave", w.proxy.url);
    let a = w.pay_while_pending(&url, 0).await;
    a.header("tollgate-receipt").expect("receipt issued")
}

/// Payer 0 sends its whole USDC balance away with a far higher tip than the settlement's, so
/// the next block runs it first. The gas limit is fixed: nothing is estimated against a pool
/// that holds the settlement.
async fn drain_payer(env: &Env) {
    let payer = env.payer(0).clone();
    let all = env.usdc(payer.address()).await;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(payer))
        .connect_http(env.dev.anvil.rpc_url.parse().expect("rpc url"));
    let _sent = IErc20::new(env.dev.usdc.address, provider)
        .transfer(SINK, all)
        .gas(100_000)
        .max_priority_fee_per_gas(50 * GWEI)
        .max_fee_per_gas(500 * GWEI)
        .send()
        .await
        .expect("drain sent");
}

/// One call on the receipt through the proxy.
async fn spend(w: &World, token: &str) -> Answer {
    let url = format!("{}/v2/fundamental-grade/aave", w.proxy.url);
    w.get(&url, &[("tollgate-receipt", token.to_string())])
        .await
}

fn summary(settled: u32, revoked: u32, pending: u32) -> CheckSummary {
    CheckSummary {
        settled,
        revoked,
        pending,
        given_up: 0,
    }
}

both_stores!(
    bundle_on_a_failed_settlement_is_revoked,
    w = pending_world,
    {
        let gw = w.proxy.gateway.clone();
        let token = buy_on_pending(&w).await;
        assert_eq!(spend(&w, &token).await.status, 200, "usable while pending");
        assert_eq!(
            gw.check_pending_now().await.unwrap(),
            summary(0, 0, 1),
            "still pending: kept, checked again later"
        );

        drain_payer(&w.env).await;
        rpc(&w.env, "evm_mine", json!([])).await;
        let f = &w.env.facilitator;
        let done = reconcile_once(f, Duration::ZERO, Duration::from_secs(10));
        assert_eq!(done.await.unwrap(), 1);
        assert_eq!(
            w.env.usdc(w.env.dev.pay_to).await,
            U256::ZERO,
            "nothing paid"
        );
        assert!(w.env.usdc(SINK).await > U256::ZERO, "the funds moved away");

        assert_eq!(gw.check_pending_now().await.unwrap(), summary(0, 1, 0));
        let a = spend(&w, &token).await;
        assert_eq!(a.status, 402, "{a:?}");
        let error = a.decoded("payment-required")["error"].clone();
        assert!(
            error.as_str().unwrap().starts_with("receipt_revoked"),
            "{error}"
        );
        assert_eq!(
            w.api.demo.served(),
            2,
            "the paying call and one receipt call"
        );
        assert_eq!(gw.check_pending_now().await.unwrap(), summary(0, 0, 0));
        assert!(
            gw.metrics()
                .render()
                .contains("tollgate_gateway_receipts_revoked_total 1")
        );
    }
);

both_stores!(
    bundle_on_a_settlement_that_lands_is_kept,
    w = pending_world,
    {
        let gw = w.proxy.gateway.clone();
        let token = buy_on_pending(&w).await;
        rpc(&w.env, "evm_mine", json!([])).await;
        let f = &w.env.facilitator;
        let done = reconcile_once(f, Duration::ZERO, Duration::from_secs(10));
        assert_eq!(done.await.unwrap(), 1);
        assert_eq!(gw.check_pending_now().await.unwrap(), summary(1, 0, 0));
        assert_eq!(gw.check_pending_now().await.unwrap(), summary(0, 0, 0));
        for _ in 1..BUNDLE_CALLS {
            assert_eq!(spend(&w, &token).await.status, 200);
        }
        assert_eq!(w.api.demo.served(), BUNDLE_CALLS);
        assert!(
            gw.metrics()
                .render()
                .contains("tollgate_gateway_receipts_revoked_total 0")
        );
    }
);

both_stores!(racing_instances_claim_each_row_once, db = TestDb::create, {
    let a = GatewayStore::connect(&db.url).await.unwrap();
    let b = GatewayStore::connect(&db.url).await.unwrap();
    for i in 0..60 {
        a.add_pending(&format!("r{i:02}"), b"{}", 100, 100 + i % 7)
            .await
            .unwrap();
    }
    let claim_all = |s: GatewayStore| async move {
        let mut got = Vec::new();
        loop {
            let batch = s.claim_pending(1_000, 5_000, 4).await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|r| r.receipt_id));
        }
    };
    let (x, y) = tokio::join!(
        tokio::spawn(claim_all(a.clone())),
        tokio::spawn(claim_all(b))
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let all: HashSet<&String> = x.iter().chain(&y).collect();
    assert_eq!(x.len() + y.len(), 60, "no row claimed twice");
    assert_eq!(all.len(), 60, "every row claimed");
});
