//! `exact` on Solana end to end: a real local validator (Agave's test validator, in process,
//! over JSON-RPC), the facilitator on a real socket, SQLite and PostgreSQL ledgers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use solana_signer::Signer;
use tollgate_e2e::{Api, Db, both_stores};
use tollgate_e2e_svm::{PAYER_USDC, SvmEnv};
use tollgate_facilitator::reconcile_once;
use tollgate_proto::reason;
use tollgate_solana::Keypair;
use tollgate_solana::exact::serialize;
use tollgate_solana::payer::{PaymentOrder, payment_instructions, sign_with};
use tollgate_solana::programs::{TOKEN, TOKEN_2022};
use tollgate_solana_devnet::{History, SolanaDevnet};
use tollgate_store::{Claim, Intent, SettlementState};

both_stores!(
    valid_payment_settles_once_and_replays_are_refused,
    env = SvmEnv::start,
    {
        let payer = env.accounts.payer.pubkey().to_string();
        let tx = env.sign(&env.order(17_000)).await;
        let body = env.v2(&tx, &env.requirements(17_000, None));

        let (status, v) = env.api.post("/verify", &body).await;
        assert_eq!(status, 200);
        assert_eq!(v, json!({"isValid": true, "payer": payer}), "{v}");

        let lamports = env.fee_payer_lamports().await;
        let (status, s) = env.api.post("/settle", &body).await;
        assert_eq!(status, 200);
        assert_eq!(s["success"], json!(true), "{s}");
        assert_eq!(
            s["payer"],
            json!(payer),
            "the token payer, not the fee payer"
        );
        assert_eq!(s["network"], json!(env.network.caip2()));
        assert_eq!(s["amount"], json!("17000"));
        let signature = s["transaction"].as_str().unwrap().to_string();
        assert_eq!(
            bs58::decode(&signature).into_vec().unwrap().len(),
            64,
            "base58 signature"
        );
        assert_eq!(signature, tx_id_after_cosign(&env, &tx));
        assert_eq!(env.balances().await, (PAYER_USDC - 17_000, 17_000));
        assert!(
            env.fee_payer_lamports().await < lamports,
            "the facilitator paid the fee"
        );

        let (_, again) = env.api.post("/settle", &body).await;
        assert_eq!(again["success"], json!(false));
        assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
        assert_eq!(
            again["transaction"],
            json!(signature),
            "a repeat names the original"
        );
        let (_, v) = env.api.post("/verify", &body).await;
        assert_eq!(
            v["invalidReason"],
            json!(reason::DUPLICATE_SETTLEMENT),
            "{v}"
        );
        assert_eq!(env.balances().await, (PAYER_USDC - 17_000, 17_000));
    }
);

/// The signature Solana will name the transaction by: the fee payer's, over the message.
fn tx_id_after_cosign(env: &SvmEnv, tx: &tollgate_e2e_svm::VersionedTransaction) -> String {
    env.fee_payer
        .sign_message(&tx.message.serialize())
        .to_string()
}

both_stores!(ten_concurrent_settles_send_once, env = SvmEnv::start, {
    let tx = env.sign(&env.order(5_000)).await;
    let body = env.v2(&tx, &env.requirements(5_000, None));
    env.api.settled_once_of_ten(&body).await;
    assert_eq!(env.balances().await, (PAYER_USDC - 5_000, 5_000));
    assert_eq!(env.facilitator.ledger().pending_count().await.unwrap(), 0);
});

both_stores!(
    two_instances_on_one_ledger_send_once,
    env = SvmEnv::start,
    {
        let second = Arc::new(
            SvmEnv::facilitator(
                env.devnet,
                env.fee_payer.insecure_clone(),
                &env.db.url,
                Duration::from_secs(20),
            )
            .await,
        );
        let other = Api::serve(second).await;
        let tx = env.sign(&env.order(7_000)).await;
        let body = env.v2(&tx, &env.requirements(7_000, None));
        let answers = futures::future::join_all((0..6).map(|i| {
            if i % 2 == 0 {
                env.api.post("/settle", &body)
            } else {
                other.post("/settle", &body)
            }
        }))
        .await;
        let ok = answers
            .iter()
            .filter(|(_, s)| s["success"] == json!(true))
            .count();
        assert_eq!(ok, 1, "{answers:?}");
        assert_eq!(env.balances().await, (PAYER_USDC - 7_000, 7_000));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_payment_settles() {
    let env = SvmEnv::start(Db::Sqlite).await.unwrap();
    let tx = env.sign(&env.order(1_000)).await;
    let body = env.v1(&tx, 1_000);
    let (_, v) = env.api.post("/verify", &body).await;
    assert_eq!(v["isValid"], json!(true), "{v}");
    let (_, s) = env.api.post("/settle", &body).await;
    assert_eq!(s["success"], json!(true), "{s}");
    assert_eq!(env.balances().await, (PAYER_USDC - 1_000, 1_000));
}

/// A Token-2022 mint: the transfer runs on Token-2022, the destination is the payee's ATA
/// derived with that program, and the balances move by exactly the amount. The same order sent
/// through the classic Token program names accounts Token does not own and moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_2022_payment_settles_once() {
    let env = SvmEnv::start_under(Db::Sqlite, &TOKEN_2022).await.unwrap();
    let mut wrong_program = env.order(3_000);
    wrong_program.token_program = TOKEN;
    let tx = env.sign(&wrong_program).await;
    let (_, v) = env
        .api
        .post("/settle", &env.v2(&tx, &env.requirements(3_000, None)))
        .await;
    assert_eq!(v["success"], json!(false), "{v}");
    assert_eq!(
        v["errorReason"],
        json!(reason::SVM_SIMULATION_FAILED),
        "{v}"
    );
    assert_eq!(env.balances().await, (PAYER_USDC, 0), "nothing moved");

    let order = env.order(3_000);
    assert_eq!(order.token_program, TOKEN_2022);
    let tx = env.sign(&order).await;
    let body = env.v2(&tx, &env.requirements(3_000, None));
    let (_, v) = env.api.post("/verify", &body).await;
    assert_eq!(v["isValid"], json!(true), "{v}");
    let (_, s) = env.api.post("/settle", &body).await;
    assert_eq!(s["success"], json!(true), "{s}");
    assert_eq!(env.balances().await, (PAYER_USDC - 3_000, 3_000));
    let (_, again) = env.api.post("/settle", &body).await;
    assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
    assert_eq!(env.balances().await, (PAYER_USDC - 3_000, 3_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_confirmation_answers_pending_then_reconciles() {
    let db = tollgate_e2e::TestDb::create(Db::Sqlite).await.unwrap();
    let env = SvmEnv::start(Db::Sqlite).await.unwrap();
    let impatient = SvmEnv::facilitator(
        env.devnet,
        env.fee_payer.insecure_clone(),
        &db.url,
        Duration::ZERO,
    )
    .await;
    let impatient = Arc::new(impatient);
    let api = Api::serve(impatient.clone()).await;
    let tx = env.sign(&env.order(3_000)).await;
    let body = env.v2(&tx, &env.requirements(3_000, None));
    let (_, s) = api.post("/settle", &body).await;
    assert_eq!(s["errorReason"], json!(reason::SETTLEMENT_PENDING), "{s}");
    let signature = s["transaction"].as_str().unwrap().to_string();
    assert_eq!(
        signature,
        tx_id_after_cosign(&env, &tx),
        "pending answers carry the signature"
    );
    assert_eq!(impatient.ledger().pending_count().await.unwrap(), 1);

    let done = reconcile_once(&impatient, Duration::ZERO, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(done, 1);
    assert_eq!(impatient.ledger().pending_count().await.unwrap(), 0);
    assert_eq!(env.balances().await, (PAYER_USDC - 3_000, 3_000));
    let (_, again) = api.post("/settle", &body).await;
    assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
    assert_eq!(again["transaction"], json!(signature));
}

/// A recorded settlement that can never land (its blockhash never existed) and was never seen:
/// a node with transaction history proves it did not land, so the reconciler records the
/// failure; a node without history cannot tell it from one that landed long ago, so the row
/// stays open rather than recording a guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciler_records_only_what_the_node_can_prove() {
    let bare = SolanaDevnet::start_async_keeping(History::NotKept)
        .await
        .expect("validator without history");
    for (devnet, provable) in [(SolanaDevnet::shared(), true), (&bare, false)] {
        let db = tollgate_e2e::TestDb::create(Db::Sqlite).await.unwrap();
        let fee_payer = Keypair::new();
        let f =
            SvmEnv::facilitator(devnet, fee_payer.insecure_clone(), &db.url, Duration::ZERO).await;
        let payer = Keypair::new();
        let order = PaymentOrder {
            mint: Keypair::new().pubkey(),
            token_program: TOKEN,
            decimals: 6,
            pay_to: Keypair::new().pubkey(),
            amount: 1_000,
            fee_payer: fee_payer.pubkey(),
            memo: None,
        };
        let ixs = payment_instructions(&payer.pubkey(), &order);
        let never: [u8; 32] = [7; 32];
        let tx = sign_with(
            &[&fee_payer, &payer],
            &fee_payer.pubkey(),
            &ixs,
            never.into(),
        );
        let signature = tx.signatures[0].to_string();
        let intent = Intent {
            id: format!("test/{signature}"),
            network: f.supported().kinds[0].network.clone(),
            scheme: "exact".into(),
            payer: payer.pubkey().to_string(),
            amount: "1000".into(),
            payment_digest: None,
        };
        let claim = f
            .ledger()
            .claim_signed(&intent, &signature, &serialize(&tx))
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Won));

        let done = reconcile_once(&f, Duration::ZERO, Duration::from_millis(600))
            .await
            .unwrap();
        let rec = f.ledger().get(&intent.id).await.unwrap().expect("row");
        if provable {
            assert_eq!(done, 1, "history proves it never landed");
            assert_eq!(rec.state, SettlementState::Failed);
            assert_eq!(
                rec.error_reason.as_deref(),
                Some(reason::INVALID_TRANSACTION_STATE)
            );
        } else {
            assert_eq!(done, 0, "without history nothing is recorded");
            assert_eq!(rec.state, SettlementState::Signed);
            assert_eq!(f.ledger().pending_count().await.unwrap(), 1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supported_advertises_the_fee_payer() {
    let env = SvmEnv::start(Db::Sqlite).await.unwrap();
    let (status, body) = env.api.get("/supported").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let fee_payer = env.fee_payer.pubkey().to_string();
    assert!(
        v["kinds"]
            .as_array()
            .unwrap()
            .contains(&json!({"x402Version": 2, "scheme": "exact",
            "network": env.network.caip2(), "extra": {"feePayer": fee_payer}})),
        "{v}"
    );
    assert_eq!(v["signers"]["solana:*"], json!([fee_payer]));
    let (status, _) = env.api.get("/health").await;
    assert_eq!(status, 200);
}
