//! A send whose answer was lost. With several RPC endpoints, a settlement the first endpoint
//! took (and then timed out on) goes again to the next; once it is mined, the node answers the
//! repeat "nonce too low". That repeat is a send that worked, not a refusal: a refusal would
//! release a payment that is already paid on chain.

use std::time::Duration;

use tollgate_e2e::{Db, Env};
use tollgate_proto::Broadcast;

#[tokio::test]
async fn a_settlement_sent_again_after_it_landed_is_a_send_that_worked() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite is always here");
    let scheme = Env::scheme(&env.dev, env.dev.facilitator.clone()).await;

    let tx = scheme.sign(&env.harmless(0)).await.expect("signs");
    assert_eq!(scheme.broadcast(&tx).await, Broadcast::Accepted);
    let landed = scheme.confirm(&tx.hash, Duration::from_secs(10)).await;
    assert_eq!(landed.expect("receipt"), Some(true), "anvil mined it");

    assert_eq!(
        scheme.broadcast(&tx).await,
        Broadcast::Accepted,
        "the chain holds this very transaction"
    );
}

#[tokio::test]
async fn another_transaction_at_a_used_nonce_is_still_refused() {
    let env = Env::start(Db::Sqlite).await.expect("SQLite is always here");
    let scheme = Env::scheme(&env.dev, env.dev.facilitator.clone()).await;

    let first = scheme.sign(&env.harmless(0)).await.expect("signs");
    let bumped = scheme.replace(&first).await.expect("bump").expect("fits");
    assert_ne!(bumped.hash, first.hash);
    assert_eq!(scheme.broadcast(&bumped).await, Broadcast::Accepted);
    let landed = scheme.confirm(&bumped.hash, Duration::from_secs(10)).await;
    assert_eq!(landed.expect("receipt"), Some(true), "anvil mined the bump");

    match scheme.broadcast(&first).await {
        Broadcast::Rejected(msg) => assert!(msg.contains("nonce too low"), "{msg}"),
        other => panic!("the replaced transaction can never land: {other:?}"),
    }
}
