//! Every refusal of `exact` on Solana names its x402 reason, and moves nothing: neither tokens
//! nor the fee payer's SOL.

use serde_json::{Value, json};
use solana_instruction::{AccountMeta, Instruction};
use solana_signer::Signer;
use tollgate_e2e::Db;
use tollgate_e2e_svm::{PAYER_USDC, SvmEnv, VersionedTransaction};
use tollgate_proto::reason;
use tollgate_solana::Keypair;
use tollgate_solana::payer::{compute_unit_price, payment_instructions};
use tollgate_solana::programs::{MEMO, TOKEN, associated_token_address};

/// Sends `body` to `/verify` and `/settle`; both must refuse with `want`.
async fn refused(env: &SvmEnv, case: &str, body: &Value, want: &str) {
    env.api.refused(case, body, want).await;
}

fn with_data(mut ix: Instruction, data: Vec<u8>) -> Instruction {
    ix.data = data;
    ix
}

fn transfer_data(amount: u64) -> Vec<u8> {
    [vec![12], amount.to_le_bytes().to_vec(), vec![6]].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_payment_is_refused_with_its_reason() {
    let env = SvmEnv::start(Db::Sqlite).await.unwrap();
    let amount = 17_000;
    let req = env.requirements(amount, None);
    let payer = env.accounts.payer.pubkey();
    let fee_payer = env.fee_payer.pubkey();
    let good = payment_instructions(&payer, &env.order(amount));
    let lamports = env.fee_payer_lamports().await;

    // Not our fee payer: the requirement names a stranger.
    let stranger = Keypair::new().pubkey();
    let mut req_stranger = req.clone();
    req_stranger["extra"]["feePayer"] = json!(stranger.to_string());
    let tx = env.sign_instructions(&good).await;
    refused(
        &env,
        "fee payer not ours",
        &env.v2(&tx, &req_stranger),
        reason::SVM_FEE_PAYER_NOT_MANAGED,
    )
    .await;
    let mut req_none = req.clone();
    req_none["extra"] = json!({});
    refused(
        &env,
        "no fee payer",
        &env.v2(&tx, &req_none),
        reason::SVM_MISSING_FEE_PAYER,
    )
    .await;

    // The fee payer as the transfer's source account.
    let mut ixs = good.clone();
    ixs[2].accounts[0] = AccountMeta::new(fee_payer, false);
    let tx = env.sign_instructions(&ixs).await;
    refused(
        &env,
        "fee payer among transfer accounts",
        &env.v2(&tx, &req),
        reason::SVM_FEE_PAYER_IN_ACCOUNTS,
    )
    .await;

    // The fee payer named by the memo instruction.
    let mut ixs = good.clone();
    ixs[3]
        .accounts
        .push(AccountMeta::new_readonly(fee_payer, true));
    let tx = env.sign_instructions(&ixs).await;
    refused(
        &env,
        "fee payer in the memo",
        &env.v2(&tx, &req),
        reason::SVM_FEE_PAYER_IN_ACCOUNTS,
    )
    .await;

    // The fee payer as the transfer authority: it would pay from its own tokens.
    let mut ixs = good.clone();
    ixs[2].accounts[0] = AccountMeta::new(
        associated_token_address(&fee_payer, &env.accounts.mint, &TOKEN),
        false,
    );
    ixs[2].accounts[3] = AccountMeta::new_readonly(fee_payer, true);
    let tx = env.sign_instructions(&ixs).await;
    refused(
        &env,
        "fee payer as authority",
        &env.v2(&tx, &req),
        reason::SVM_FEE_PAYER_TRANSFERRING,
    )
    .await;

    // A compute price over 5 lamports per unit.
    let mut ixs = good.clone();
    ixs[1] = compute_unit_price(5_000_001);
    let tx = env.sign_instructions(&ixs).await;
    refused(
        &env,
        "compute price",
        &env.v2(&tx, &req),
        reason::SVM_COMPUTE_PRICE_TOO_HIGH,
    )
    .await;

    // The compute limit missing: the transfer comes first.
    let ixs = [good[1].clone(), good[1].clone(), good[2].clone()];
    let tx = env.sign_instructions(&ixs).await;
    refused(
        &env,
        "no compute limit",
        &env.v2(&tx, &req),
        reason::SVM_COMPUTE_LIMIT,
    )
    .await;

    // An extra instruction that is neither Memo nor Lighthouse.
    let mut ixs = good.clone();
    ixs.insert(
        3,
        Instruction::new_with_bytes(
            solana_pubkey_of("11111111111111111111111111111111"),
            &[2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            vec![
                AccountMeta::new(payer, true),
                AccountMeta::new(Keypair::new().pubkey(), false),
            ],
        ),
    );
    let tx = env.sign_instructions(&ixs).await;
    refused(
        &env,
        "unknown instruction",
        &env.v2(&tx, &req),
        reason::SVM_UNKNOWN_FOURTH,
    )
    .await;

    // Seven instructions.
    let mut ixs = good.clone();
    ixs.extend(
        (0..3).map(|i| Instruction::new_with_bytes(MEMO, format!("m{i}").as_bytes(), vec![])),
    );
    let tx = env.sign_instructions(&ixs).await;
    refused(
        &env,
        "seven instructions",
        &env.v2(&tx, &req),
        reason::SVM_INSTRUCTIONS_LENGTH,
    )
    .await;

    // Another mint.
    let (other_mint, other_auth) = env.devnet.create_mint(6).await.unwrap();
    env.devnet
        .fund_tokens(&other_mint, &other_auth, &payer, 1_000_000)
        .await
        .unwrap();
    let mut order = env.order(amount);
    order.mint = other_mint;
    let tx = env.sign(&order).await;
    refused(
        &env,
        "wrong mint",
        &env.v2(&tx, &req),
        reason::SVM_MINT_MISMATCH,
    )
    .await;

    // Paid into the payer's own account rather than the payee's.
    let mut ixs = good.clone();
    ixs[2].accounts[2] = AccountMeta::new(
        associated_token_address(&payer, &env.accounts.mint, &TOKEN),
        false,
    );
    let tx = env.sign_instructions(&ixs).await;
    refused(
        &env,
        "destination not the payTo ATA",
        &env.v2(&tx, &req),
        reason::SVM_RECIPIENT_MISMATCH,
    )
    .await;

    // One unit less, one unit more.
    for wrong in [amount - 1, amount + 1] {
        let mut ixs = good.clone();
        ixs[2] = with_data(ixs[2].clone(), transfer_data(wrong));
        let tx = env.sign_instructions(&ixs).await;
        refused(
            &env,
            "amount",
            &env.v2(&tx, &req),
            reason::SVM_AMOUNT_MISMATCH,
        )
        .await;
    }

    // The seller's memo: a different one, then none at all.
    let req_memo = env.requirements(amount, Some("order-42"));
    let mut order = env.order(amount);
    order.memo = Some("order-43".into());
    let tx = env.sign(&order).await;
    refused(
        &env,
        "memo mismatch",
        &env.v2(&tx, &req_memo),
        reason::SVM_MEMO_MISMATCH,
    )
    .await;
    let tx = env.sign_instructions(&good[..3]).await;
    refused(
        &env,
        "memo missing",
        &env.v2(&tx, &req_memo),
        reason::SVM_MEMO_COUNT,
    )
    .await;

    // The payer's signature missing, then forged by another key.
    let mut tx = env.sign_instructions(&good).await;
    tx.signatures[1] = Default::default();
    refused(
        &env,
        "unsigned",
        &env.v2(&tx, &req),
        reason::SVM_SIMULATION_FAILED,
    )
    .await;
    let mut tx = env.sign_instructions(&good).await;
    tx.signatures[1] = Keypair::new().sign_message(&tx.message.serialize());
    refused(
        &env,
        "forged",
        &env.v2(&tx, &req),
        reason::SVM_SIMULATION_FAILED,
    )
    .await;

    // Undecodable transactions.
    for garbage in ["AAAA", "bm90IGEgdHJhbnNhY3Rpb24=", "@@not base64@@"] {
        let mut body = env.v2(&env.sign_instructions(&good).await, &req);
        body["paymentPayload"]["payload"]["transaction"] = json!(garbage);
        refused(&env, garbage, &body, reason::SVM_UNDECODABLE).await;
    }
    let mut body = env.v2(&env.sign_instructions(&good).await, &req);
    body["paymentPayload"]["payload"]["transaction"] = json!("A".repeat(4000));
    refused(&env, "oversized", &body, reason::SVM_UNDECODABLE).await;

    // Nothing moved, and the fee payer paid for nothing.
    assert_eq!(env.balances().await, (PAYER_USDC, 0));
    assert_eq!(env.fee_payer_lamports().await, lamports);

    // The seller's memo, matched, is a valid payment.
    let mut order = env.order(amount);
    order.memo = Some("order-42".into());
    let tx: VersionedTransaction = env.sign(&order).await;
    let (_, v) = env.api.post("/verify", &env.v2(&tx, &req_memo)).await;
    assert_eq!(v["isValid"], json!(true), "{v}");
}

fn solana_pubkey_of(s: &str) -> tollgate_solana::Pubkey {
    s.parse().unwrap()
}
