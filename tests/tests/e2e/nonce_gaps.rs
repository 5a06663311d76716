//! A gap filler the node dropped is sent again. A signed settlement that will never be sent
//! gives its nonce to a 0-value self-transfer; when the node loses that filler, the signer's
//! later settlements sit behind the gap, and the stuck-settlement pass (a fee bump) sends the
//! filler again, so they land.

use alloy::providers::Provider;
use serde_json::Value;
use tollgate_e2e::{Db, Env};
use tollgate_proto::Broadcast;

async fn anvil(env: &Env, method: &str, params: Value) {
    let rpc = env.dev.anvil.provider();
    rpc.raw_request::<_, Value>(method.to_string().into(), params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"));
}

#[tokio::test]
async fn a_dropped_gap_filler_is_sent_again_when_a_later_settlement_sticks() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite is always here");
    let scheme = Env::scheme(&env.dev, env.dev.facilitator.clone()).await;
    let before = env.settlements_sent().await;
    // Mining only when told, so the pool holds what reaches it.
    anvil(&env, "evm_setAutomine", serde_json::json!([false])).await;

    let never_sent = scheme.sign(&env.harmless(0)).await.expect("signs");
    scheme.abandon(&never_sent).await;
    anvil(&env, "anvil_dropAllTransactions", serde_json::json!([])).await;
    let later = scheme.sign(&env.harmless(1)).await.expect("signs");
    assert_eq!(scheme.broadcast(&later).await, Broadcast::Accepted);
    anvil(&env, "evm_mine", serde_json::json!([])).await;
    assert_eq!(
        env.settlements_sent().await,
        before,
        "the later settlement waits behind the dropped filler's gap"
    );

    let bumped = scheme.replace(&later).await.expect("bump").expect("fits");
    assert_eq!(scheme.broadcast(&bumped).await, Broadcast::Accepted);
    anvil(&env, "evm_mine", serde_json::json!([])).await;
    assert_eq!(
        env.settlements_sent().await,
        before + 2,
        "the filler went again, and the settlement landed behind it"
    );
}
