//! EIP-3009 `exact` on a real anvil through the facilitator's HTTP API, on SQLite and PostgreSQL.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use tollgate_e2e::{Env, Payment, both_stores, now};
use tollgate_proto::reason;

const PRICE: u64 = 17_000; // $0.017 in USDC atomic units

fn tx_hash(v: &Value) -> &str {
    v["transaction"].as_str().expect("transaction field")
}

both_stores!(v2_payment_verifies_and_settles_once, env = Env::start, {
    let pay = env.payment(0, PRICE);
    let payer = env.payer(0).address();
    let before = env.usdc(payer).await;

    let s = env.settles(&pay.v2(), &payer.to_checksum(None)).await;
    assert_eq!(s["network"], json!(env.network.caip2()));
    assert_eq!(tx_hash(&s).len(), 66);
    assert_eq!(env.usdc(payer).await, before - U256::from(PRICE));
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(PRICE));
    assert_eq!(env.settlements_sent().await, 1);
});

both_stores!(v1_payment_verifies_and_settles_once, env = Env::start, {
    let pay = env.payment(1, PRICE);
    let (status, v) = env.post("/verify", &pay.v1()).await;
    assert_eq!((status, &v["isValid"]), (200, &json!(true)), "{v}");
    let (_, s) = env.post("/settle", &pay.v1()).await;
    assert_eq!(s["success"], json!(true), "{s}");
    assert_eq!(
        s["network"],
        json!("eip155:31337"),
        "v1 answers in the request's own naming"
    );
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(PRICE));
    assert_eq!(env.settlements_sent().await, 1);
});

both_stores!(
    replay_is_refused_with_the_original_hash,
    env = Env::start,
    {
        let pay = env.payment(0, PRICE);
        let (_, first) = env.post("/settle", &pay.v2()).await;
        assert_eq!(first["success"], json!(true), "{first}");

        let (_, v) = env.post("/verify", &pay.v2()).await;
        assert_eq!(v["isValid"], json!(false));
        assert_eq!(v["invalidReason"], json!(reason::DUPLICATE_SETTLEMENT));

        for body in [pay.v2(), pay.v1()] {
            let (status, again) = env.post("/settle", &body).await;
            assert_eq!(status, 200);
            assert_eq!(again["success"], json!(false));
            assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
            assert_eq!(
                tx_hash(&again),
                tx_hash(&first),
                "a repeat names the original transaction"
            );
        }
        assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(PRICE));
        assert_eq!(env.settlements_sent().await, 1);
    }
);

both_stores!(ten_concurrent_settles_broadcast_once, env = Env::start, {
    let body = env.payment(0, PRICE).v2();
    env.settled_once_of_ten(&body).await;
    assert_eq!(env.settlements_sent().await, 1);
    assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(PRICE));
});

type Tamper = fn(&mut Payment, &Env);

fn rejection_cases() -> Vec<(&'static str, Tamper, &'static str)> {
    vec![
        (
            "lower amount",
            |p, _| p.auth.value -= U256::from(1u8),
            reason::EVM_AUTHORIZATION_VALUE,
        ),
        (
            "higher amount",
            |p, _| p.auth.value += U256::from(1u8),
            reason::EVM_AUTHORIZATION_VALUE,
        ),
        (
            "wrong payTo",
            |p, _| p.auth.to = Address::repeat_byte(7),
            reason::EVM_RECIPIENT_MISMATCH,
        ),
        (
            "wrong asset",
            |p, _| p.asset = Address::repeat_byte(9),
            reason::EVM_SIGNATURE,
        ),
        (
            "asset without code",
            |p, _| {
                p.asset = Address::repeat_byte(9);
                p.sign_domain.3 = p.asset;
            },
            reason::ASSET_NOT_DEPLOYED,
        ),
        (
            "payload network differs",
            |p, _| p.accepted_network = "eip155:8453".into(),
            reason::EVM_NETWORK_MISMATCH,
        ),
        (
            "network not served",
            |p, _| {
                p.network = "eip155:8453".into();
                p.accepted_network = "eip155:8453".into();
            },
            reason::INVALID_NETWORK,
        ),
        (
            "signed for another chain id",
            |p, _| p.sign_domain.2 = 8453,
            reason::EVM_SIGNATURE,
        ),
        (
            "wrong EIP-712 name",
            |p, _| {
                p.name = "USDC".into();
                p.sign_domain.0 = "USDC".into();
            },
            reason::EVM_TOKEN_NAME_MISMATCH,
        ),
        (
            "wrong EIP-712 version",
            |p, _| {
                p.version = "1".into();
                p.sign_domain.1 = "1".into();
            },
            reason::EVM_TOKEN_VERSION_MISMATCH,
        ),
        (
            "validBefore passed",
            |p, _| p.auth.valid_before = U256::from(now() - 10),
            reason::EVM_VALID_BEFORE,
        ),
        (
            "validBefore under 6 s ahead",
            |p, _| p.auth.valid_before = U256::from(now() + 3),
            reason::EVM_VALID_BEFORE,
        ),
        (
            "validAfter in the future",
            |p, _| p.auth.valid_after = U256::from(now() + 60),
            reason::EVM_VALID_AFTER,
        ),
        (
            "flipped signature byte",
            |p, _| {
                let mut s = p.signature_bytes();
                s[10] ^= 1;
                p.signature = Some(s);
            },
            reason::EVM_SIGNATURE,
        ),
        (
            "signed by another key",
            |p, _| {
                let from = p.auth.from;
                p.signer = PrivateKeySigner::random();
                p.auth.from = from;
            },
            reason::EVM_SIGNATURE,
        ),
        (
            "payer without balance",
            |p, _| {
                p.signer = PrivateKeySigner::random();
                p.auth.from = p.signer.address();
            },
            reason::EVM_INSUFFICIENT_BALANCE,
        ),
    ]
}

both_stores!(
    each_bad_payment_is_refused_with_its_reason_and_moves_nothing,
    env = Env::start,
    {
        let payer = env.payer(0).address();
        let before = env.usdc(payer).await;
        for (what, tamper, want) in rejection_cases() {
            let mut pay = env.payment(0, PRICE);
            tamper(&mut pay, &env);
            env.refused(what, &pay.v2(), want).await;
        }
        assert_eq!(env.usdc(payer).await, before);
        assert_eq!(env.usdc(env.dev.pay_to).await, U256::ZERO);
        assert_eq!(env.settlements_sent().await, 0);
    }
);

both_stores!(
    missing_domain_and_wrong_scheme_are_refused,
    env = Env::start,
    {
        let pay = env.payment(0, PRICE);
        let mut no_domain = pay.v2();
        no_domain["paymentRequirements"]["extra"] = json!({});
        let mut upto = pay.v2();
        upto["paymentRequirements"]["scheme"] = json!("upto");
        for (body, want) in [
            (no_domain, reason::EVM_MISSING_EIP712_DOMAIN),
            (upto, reason::UPTO_SCHEME),
        ] {
            let (status, v) = env.post("/verify", &body).await;
            assert_eq!((status, &v["invalidReason"]), (200, &json!(want)), "{v}");
        }
        assert_eq!(env.settlements_sent().await, 0);
    }
);

fn set(body: &mut Value, path: &[&str], v: Option<Value>) {
    let (last, parents) = path.split_last().expect("path");
    let mut node = body;
    for p in parents {
        node = &mut node[*p];
    }
    match v {
        Some(v) => node[*last] = v,
        None => {
            node.as_object_mut().expect("object").remove(*last);
        }
    }
}

both_stores!(
    malformed_requests_get_400_with_a_reason,
    env = Env::start,
    {
        let good = env.payment(0, PRICE).v2();
        let auth = ["paymentPayload", "payload", "authorization"];
        let mut cases: Vec<(String, Value, &str)> = Vec::new();
        for bad in [
            "115792089237316195423570985008687907853269984665640564039457584007913129639936",
            "-1",
            "1.5",
            "1e6",
            " 17000",
            "",
        ] {
            let mut b = good.clone();
            set(
                &mut b,
                &[auth[0], auth[1], auth[2], "value"],
                Some(json!(bad)),
            );
            cases.push((
                format!("authorization.value {bad:?}"),
                b,
                reason::INVALID_PAYLOAD,
            ));
            let mut b = good.clone();
            set(&mut b, &["paymentRequirements", "amount"], Some(json!(bad)));
            cases.push((
                format!("requirements.amount {bad:?}"),
                b,
                reason::INVALID_PAYMENT_REQUIREMENTS,
            ));
        }
        for field in ["from", "to", "value", "validAfter", "validBefore", "nonce"] {
            let mut b = good.clone();
            set(&mut b, &[auth[0], auth[1], auth[2], field], None);
            cases.push((
                format!("missing authorization.{field}"),
                b,
                reason::INVALID_PAYLOAD,
            ));
        }
        let mut b = good.clone();
        set(&mut b, &["paymentPayload", "payload", "signature"], None);
        cases.push(("missing signature".into(), b, reason::INVALID_PAYLOAD));
        let mut b = good.clone();
        set(
            &mut b,
            &["paymentPayload", "payload", "signature"],
            Some(json!("0xzz")),
        );
        cases.push(("non-hex signature".into(), b, reason::INVALID_PAYLOAD));
        let mut b = good.clone();
        set(
            &mut b,
            &[auth[0], auth[1], auth[2], "from"],
            Some(json!("0x1234")),
        );
        cases.push(("short address".into(), b, reason::INVALID_PAYLOAD));
        for field in [
            "scheme",
            "network",
            "amount",
            "asset",
            "payTo",
            "maxTimeoutSeconds",
        ] {
            let mut b = good.clone();
            set(&mut b, &["paymentRequirements", field], None);
            cases.push((
                format!("missing requirements.{field}"),
                b,
                reason::INVALID_PAYMENT_REQUIREMENTS,
            ));
        }
        for (what, body, want) in &cases {
            for path in ["/verify", "/settle"] {
                let (status, v) = env.post(path, body).await;
                assert_eq!(status, 400, "{path} {what}: {v}");
                let got = if path == "/verify" {
                    &v["invalidReason"]
                } else {
                    &v["errorReason"]
                };
                assert_eq!(got, &json!(want), "{path} {what}: {v}");
            }
        }
        for raw in [
            b"{not json".to_vec(),
            b"".to_vec(),
            vec![0xff, 0xfe],
            b"[]".to_vec(),
        ] {
            let (status, v) = env.post_raw("/verify", raw).await;
            assert_eq!(
                (status, &v["invalidReason"]),
                (400, &json!(reason::INVALID_PAYLOAD)),
                "{v}"
            );
        }
        let (status, _) = env.post_raw("/settle", vec![b' '; 200 * 1024]).await;
        assert_eq!(status, 413, "oversized bodies are cut off");
        assert_eq!(env.settlements_sent().await, 0);
    }
);

both_stores!(
    erc1271_wallet_pays_through_the_bytes_overload,
    env = Env::start,
    {
        let owner = env.payer(0).address();
        let wallet = env
            .dev
            .deploy_smart_wallet(owner)
            .await
            .expect("wallet deploys");
        let usdc = env.dev.usdc.address;
        env.dev
            .mint(usdc, wallet, U256::from(2 * PRICE))
            .await
            .expect("mint");

        // Signed by the wallet's owner key: not an EOA signature of `from`, so the token asks
        // the wallet (ERC-1271) through the bytes overload.
        let mut pay = env.payment(0, PRICE);
        pay.auth.from = wallet;
        env.settles(&pay.v2(), &wallet.to_checksum(None)).await;
        assert_eq!(env.usdc(wallet).await, U256::from(PRICE));
        assert_eq!(env.usdc(env.dev.pay_to).await, U256::from(PRICE));

        // Someone else's key: the wallet says no, so simulation refuses and nothing moves.
        let mut forged = env.payment(1, PRICE);
        forged.auth.from = wallet;
        let forged = forged.v2();
        env.refused("forged", &forged, reason::EVM_SIMULATION_FAILED)
            .await;
        assert_eq!(env.usdc(wallet).await, U256::from(PRICE));
        assert_eq!(env.settlements_sent().await, 1);
    }
);
