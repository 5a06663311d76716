//! `upto` (TMAI, 18 decimals) on a real anvil with the canonical Permit2 and our x402 upto
//! proxy, through the facilitator's HTTP API, on SQLite and PostgreSQL: the payer signs a
//! maximum, the seller settles what was used, and exactly that moves, once.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use tollgate_e2e::{
    Api, Env, Permit2Payment, Tamper, both_stores, facilitator_with, tampered, tmai,
    witness_tampers,
};
use tollgate_evm::{ChainConfig, EvmChain};
use tollgate_facilitator::EvmScheme;
use tollgate_proto::reason;

/// The address the facilitator settles `upto` payments from, as `/supported` names it.
async fn settler(env: &Env) -> Address {
    let (_, supported) = env.get("/supported").await;
    let supported: Value = serde_json::from_str(&supported).expect("json");
    let kind = supported["kinds"]
        .as_array()
        .expect("kinds")
        .iter()
        .find(|k| k["scheme"] == json!("upto"))
        .unwrap_or_else(|| panic!("an upto kind: {supported}"));
    assert_eq!(kind["x402Version"], json!(2), "upto is v2-only");
    kind["extra"]["facilitatorAddress"]
        .as_str()
        .expect("facilitatorAddress")
        .parse()
        .expect("address")
}

/// Payer `i`'s `upto` payment of at most `max`, for the facilitator of `env`.
async fn upto(env: &Env, i: usize, max: U256) -> Permit2Payment {
    let facilitator = settler(env).await;
    Permit2Payment::upto(
        &env.dev,
        &env.network,
        env.payer(i).clone(),
        max,
        facilitator,
    )
}

/// Settles `pay` charging `charge`; the facilitator's answer.
async fn settle(env: &Env, pay: &Permit2Payment, charge: U256) -> Value {
    let (status, s) = env.post("/settle", &pay.v2_charging(charge)).await;
    assert_eq!(status, 200, "{s}");
    s
}

both_stores!(charges_move_exactly_what_was_used_once, env = Env::start, {
    env.fund_tmai(0, tmai(1000), true).await;
    let payer = env.payer(0).address();
    let max = tmai(200);
    assert!(max > U256::from(u64::MAX), "a maximum above 2^64");
    let mut moved = U256::ZERO;
    let mut sent = 0;
    for (charge, what) in [
        (max, "the whole maximum"),
        (tmai(3) + U256::from(7u8), "a part, to the last atomic unit"),
        (U256::ZERO, "nothing"),
    ] {
        let pay = upto(&env, 0, max).await;
        let payer_text = payer.to_checksum(None);
        let (status, v) = env.post("/verify", &pay.v2()).await;
        assert_eq!((status, &v["isValid"]), (200, &json!(true)), "{what}: {v}");
        assert_eq!(v["payer"], json!(payer_text), "{what}");

        let s = settle(&env, &pay, charge).await;
        assert_eq!(s["success"], json!(true), "{what}: {s}");
        assert_eq!(s["amount"], json!(charge.to_string()), "{what}: {s}");
        assert_eq!(s["payer"], json!(payer_text), "{what}");
        if charge.is_zero() {
            assert_eq!(s["transaction"], json!(""), "nothing is sent for nothing");
        } else {
            sent += 1;
            assert_eq!(s["transaction"].as_str().map(str::len), Some(66), "{s}");
        }
        moved += charge;
        assert_eq!(env.tmai(env.dev.pay_to).await, moved, "{what}");
        assert_eq!(env.tmai(payer).await, tmai(1000) - moved, "{what}");
        assert_eq!(env.settlements_sent().await, sent, "{what}");

        // The same settlement again: refused, naming what settled it.
        let again = settle(&env, &pay, charge).await;
        assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
        assert_eq!(
            again["transaction"], s["transaction"],
            "{what}: the original"
        );
        assert_eq!(again["extra"]["settlementState"], json!("settled"));
        // The same authorization at another charge: refused, and never told it settled.
        let other = settle(&env, &pay, charge + U256::from(1u8)).await;
        assert_eq!(other["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
        assert_eq!(
            other["extra"]["settlementState"],
            json!("failed"),
            "{other}"
        );
    }
    assert_eq!(env.tmai(env.dev.pay_to).await, moved);
    assert_eq!(env.settlements_sent().await, sent);
});

both_stores!(
    a_charge_above_the_maximum_moves_nothing,
    env = Env::start,
    {
        env.fund_tmai(0, tmai(10), true).await;
        let max = tmai(2);
        let pay = upto(&env, 0, max).await;
        let s = settle(&env, &pay, max + U256::from(1u8)).await;
        assert_eq!(
            (&s["success"], &s["errorReason"]),
            (
                &json!(false),
                &json!(reason::UPTO_SETTLEMENT_EXCEEDS_AMOUNT)
            ),
            "{s}"
        );
        assert_eq!(s["transaction"], json!(""));
        assert_eq!(env.tmai(env.dev.pay_to).await, U256::ZERO);
        assert_eq!(env.settlements_sent().await, 0);
        // Refused, not spent: the same payment settles within its maximum.
        let s = settle(&env, &pay, max).await;
        assert_eq!(s["success"], json!(true), "{s}");
        assert_eq!(env.tmai(env.dev.pay_to).await, max);
    }
);

both_stores!(ten_concurrent_settles_charge_once, env = Env::start, {
    env.fund_tmai(0, tmai(300), true).await;
    let pay = upto(&env, 0, tmai(200)).await;
    let s = env.settled_once_of_ten(&pay.v2_charging(tmai(150))).await;
    assert_eq!(s["amount"], json!(tmai(150).to_string()));
    assert_eq!(env.settlements_sent().await, 1);
    assert_eq!(env.tmai(env.dev.pay_to).await, tmai(150));
});

both_stores!(
    each_bad_payment_is_refused_with_its_reason_and_moves_nothing,
    env = Env::start,
    {
        env.fund_tmai(0, tmai(10), true).await;
        env.fund_tmai(1, tmai(10), false).await;
        let max = tmai(1);
        let facilitator = settler(&env).await;
        let make = |i: usize| {
            let payer = env.payer(i).clone();
            Permit2Payment::upto(&env.dev, &env.network, payer, max, facilitator)
        };
        let mut cases = tampered(rejection_cases(), || make(0));
        let no_allowance = make(1);
        cases.push((
            "no Permit2 allowance and no permit",
            no_allowance,
            reason::PERMIT2_ALLOWANCE_REQUIRED,
        ));
        for (what, pay, want) in &cases {
            env.refused(what, &pay.v2(), want).await;
        }
        // The maximum asked at /verify must be what the payer permitted; at /settle the charge
        // may not pass what was permitted.
        let mut short = upto(&env, 0, max).await;
        short.auth.amount -= U256::from(1u8);
        let (_, v) = env.post("/verify", &short.v2()).await;
        assert_eq!(
            v["invalidReason"],
            json!(reason::PERMIT2_AMOUNT_MISMATCH),
            "{v}"
        );
        let s = settle(&env, &short, max).await;
        assert_eq!(
            s["errorReason"],
            json!(reason::UPTO_SETTLEMENT_EXCEEDS_AMOUNT),
            "{s}"
        );
        assert_eq!(env.tmai(env.payer(0).address()).await, tmai(10));
        assert_eq!(env.tmai(env.dev.pay_to).await, U256::ZERO);
        assert_eq!(env.settlements_sent().await, 0);
    }
);

// With several signers, the one the payment names sends its settlement, whatever the rotation.
both_stores!(the_signer_the_payment_names_settles_it, env = Env::start, {
    let second = PrivateKeySigner::random();
    let eth = U256::from(10u64).pow(U256::from(18u8));
    env.dev
        .anvil
        .set_balance(second.address(), eth)
        .await
        .unwrap();
    let keys = vec![env.dev.facilitator.clone(), second.clone()];
    let mut cfg = ChainConfig::new(env.network.clone(), env.dev.anvil.rpc_url.clone(), keys);
    cfg.receipt_poll = Duration::from_millis(20);
    let chain = EvmChain::connect(cfg).await.expect("chain connects");
    let scheme = Arc::new(EvmScheme::new(chain));
    let two_keys = facilitator_with(scheme, &env.db.url, Duration::from_secs(20)).await;
    let api = Api::serve(Arc::new(two_keys)).await;
    env.fund_tmai(0, tmai(10), true).await;
    for charge in [tmai(1), tmai(2)] {
        let payer = env.payer(0).clone();
        let pay = Permit2Payment::upto(&env.dev, &env.network, payer, tmai(2), second.address());
        let (_, s) = api.post("/settle", &pay.v2_charging(charge)).await;
        assert_eq!(s["success"], json!(true), "{s}");
    }
    assert_eq!(
        env.dev.tx_count(second.address()).await.unwrap(),
        2,
        "the named signer sent both"
    );
    assert_eq!(
        env.settlements_sent().await,
        0,
        "the other signer sent nothing"
    );
    assert_eq!(env.tmai(env.dev.pay_to).await, tmai(3));
});

both_stores!(upto_is_v2_only, env = Env::start, {
    env.fund_tmai(0, tmai(10), true).await;
    let v2 = upto(&env, 0, tmai(1)).await.v2();
    let req = &v2["paymentRequirements"];
    let v1 = json!({
        "x402Version": 1,
        "paymentPayload": {"x402Version": 1, "scheme": "upto", "network": req["network"],
            "payload": v2["paymentPayload"]["payload"]},
        "paymentRequirements": {"scheme": "upto", "network": req["network"],
            "maxAmountRequired": req["amount"], "resource": "http://127.0.0.1/data",
            "description": "", "mimeType": "application/json", "payTo": req["payTo"],
            "maxTimeoutSeconds": 60, "asset": req["asset"], "extra": req["extra"]},
    });
    env.refused("upto over x402 v1", &v1, reason::UPTO_SCHEME)
        .await;
    assert_eq!(env.tmai(env.dev.pay_to).await, U256::ZERO);
});

/// What breaks an `upto` payment beyond its witness, window and signature.
fn rejection_cases() -> Vec<Tamper> {
    let upto_only: [Tamper; 2] = [
        (
            "witness names another facilitator",
            |p| {
                let other = Address::repeat_byte(0x42);
                p.witness_facilitator = Some(other);
                p.facilitator = Some(other);
            },
            reason::UPTO_FACILITATOR_MISMATCH,
        ),
        (
            "spender is the exact proxy",
            |p| p.auth.spender = tollgate_evm::EXACT_PERMIT2_PROXY,
            reason::PERMIT2_SPENDER,
        ),
    ];
    witness_tampers().into_iter().chain(upto_only).collect()
}
