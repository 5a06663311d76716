//! Metered bundles through the gateway proxy: one payment buys N calls (or a time window), the
//! receipt token spends them, and instances sharing one store never serve more than was paid.

use alloy::primitives::U256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tollgate_e2e::gateway::*;
use tollgate_e2e::{Db, Env, both_stores, now};
use tollgate_gateway::{Claims, KeyRing};

const BUNDLE_PRICE: u64 = 68_000; // $0.068 in USDC atomic units

/// Pays for the prediction bundle through `proxy` as payer `i`; returns the receipt token.
async fn buy_bundle(w_http: &reqwest::Client, env: &Env, proxy: &str, i: usize) -> String {
    let url = format!("{proxy}/v2/price-prediction/aave");
    let accepted = first_accept(&get(w_http, &url, &[]).await);
    assert_eq!(accepted["amount"], json!(BUNDLE_PRICE.to_string()));
    let a = get(
        w_http,
        &url,
        &[("PAYMENT-SIGNATURE", v2_header(env, i, &accepted))],
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["data"]["scenarios"][0]["bear"], json!(293.45));
    let token = a.header("tollgate-receipt").expect("receipt header");
    assert_eq!(
        a.body["tollgate_receipt"],
        json!(token),
        "receipt also in the body"
    );
    token
}

fn error_of(a: &Answer) -> String {
    assert_eq!(a.status, 402, "{a:?}");
    a.decoded("payment-required")["error"]
        .as_str()
        .unwrap()
        .to_string()
}

both_stores!(bundle_serves_exactly_n_then_402, w = |db| world(db, 1), {
    let token = buy_bundle(&w.http, &w.env, &w.proxy.url, 0).await;
    let rcpt = [("tollgate-receipt", token)];
    // The paying call was the first of BUNDLE_CALLS; the rest alternate over covered routes.
    for n in 1..BUNDLE_CALLS {
        let path = if n % 2 == 0 {
            "/v2/price-prediction/cro"
        } else {
            "/v2/fundamental-grade/cro"
        };
        let a = w.get(&format!("{}{path}", w.proxy.url), &rcpt).await;
        assert_eq!(a.status, 200, "call {n}: {a:?}");
    }
    let url = format!("{}/v2/price-prediction/cro", w.proxy.url);
    assert!(error_of(&w.get(&url, &rcpt).await).starts_with("receipt_exhausted"));
    assert_eq!(w.api.demo.served(), BUNDLE_CALLS);
    assert_eq!(w.env.settlements_sent().await, 1);
    assert_eq!(w.env.usdc(w.env.dev.pay_to).await, U256::from(BUNDLE_PRICE));
});

both_stores!(
    bad_receipts_are_refused_before_any_lookup,
    w = |db| world(db, 1),
    {
        let token = buy_bundle(&w.http, &w.env, &w.proxy.url, 0).await;
        let meter = w.proxy.gateway.meter().expect("receipts on");
        let url = format!("{}/v2/price-prediction/aave", w.proxy.url);
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();

        let forger = KeyRing::new(vec![("k1".into(), vec![7u8; 32])], "k1").unwrap();
        let forged = forger.sign(&claims);
        claims.routes.push("grades".into());
        let tampered_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let tampered = format!("{}.{}.{tampered_body}.{}", parts[0], parts[1], parts[3]);
        claims.exp = now() - 1;
        let expired = ring(&["k1"], "k1").sign(&claims);

        let reads = meter.store_reads();
        let cases: [(&str, String, &str); 5] = [
            ("forged", forged, "receipt_bad_signature"),
            ("tampered", tampered, "receipt_bad_signature"),
            ("expired", expired, "receipt_expired"),
            ("garbage", "tg1.k1.x".into(), "receipt_malformed"),
            (
                "unknown key",
                ring(&["k2"], "k2").sign(&claims),
                "receipt_unknown_key",
            ),
        ];
        for (what, t, reason) in cases {
            let e = error_of(&w.get(&url, &[("tollgate-receipt", t)]).await);
            assert!(e.starts_with(reason), "{what}: {e}");
        }
        let grades = format!("{}/v2/grades/aave", w.proxy.url);
        let e = error_of(&w.get(&grades, &[("tollgate-receipt", token.clone())]).await);
        assert!(e.starts_with("receipt_wrong_route"), "{e}");
        assert_eq!(
            meter.store_reads(),
            reads,
            "no refusal touched the cache or the store"
        );

        let valid_unknown = ring(&["k1"], "k1").sign(&Claims {
            rid: "00".repeat(16),
            payer: "0x0".into(),
            routes: vec!["prediction".into()],
            exp: now() + 60,
        });
        let e = error_of(&w.get(&url, &[("tollgate-receipt", valid_unknown)]).await);
        assert!(e.starts_with("receipt_unknown"), "{e}");
        assert_eq!(w.api.demo.served(), 1, "only the paying call was served");
    }
);

both_stores!(rotated_keys_work_until_retired, w = |db| world(db, 1), {
    let old = buy_bundle(&w.http, &w.env, &w.proxy.url, 0).await;
    assert!(old.starts_with("tg1.k1."));
    let toml = config_toml(&w.env, &w.api.url, 1, BUNDLE_CALLS);
    let rotated = serve(
        gateway(&w.env, &toml, &["k1", "k2"], "k2").await,
        &w.api.url,
    )
    .await;
    let url = format!("{}/v2/price-prediction/aave", rotated.url);
    let a = w.get(&url, &[("tollgate-receipt", old.clone())]).await;
    assert_eq!(
        a.status, 200,
        "a k1 token still works while k1 is active: {a:?}"
    );
    let new = buy_bundle(&w.http, &w.env, &rotated.url, 1).await;
    assert!(
        new.starts_with("tg1.k2."),
        "new receipts are signed with k2"
    );
    let retired = serve(gateway(&w.env, &toml, &["k2"], "k2").await, &w.api.url).await;
    let url = format!("{}/v2/price-prediction/aave", retired.url);
    let e = error_of(&w.get(&url, &[("tollgate-receipt", old)]).await);
    assert!(e.starts_with("receipt_unknown_key"), "{e}");
    let a = w.get(&url, &[("tollgate-receipt", new)]).await;
    assert_eq!(a.status, 200, "{a:?}");
});

both_stores!(
    time_window_bundle_serves_until_expiry,
    w = |db| world(db, 1),
    {
        let url = format!("{}/v2/technology-grade/aave", w.proxy.url);
        let a = w.pay_first_offer(&url, 0).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert!(
            a.body.get("tollgate_receipt").is_none(),
            "this route keeps its body as is"
        );
        let rcpt = [("tollgate-receipt", a.header("tollgate-receipt").unwrap())];
        for _ in 0..5 {
            assert_eq!(w.get(&url, &rcpt).await.status, 200);
        }
        assert_eq!(w.api.demo.served(), 6);
    }
);

/// Fires bursts of `burst` concurrent receipt calls alternating over `proxies` until a burst
/// is refused whole as used up; returns how many got 200. A call answered 503
/// `receipt_calls_held` (the other instance holds the last calls) is asked again in the next
/// burst, as a client honouring Retry-After would.
async fn spend_until_used_up(
    http: &reqwest::Client,
    proxies: &[&str],
    token: &str,
    burst: usize,
) -> usize {
    let rcpt = [("tollgate-receipt", token.to_string())];
    let urls: Vec<String> = (0..burst)
        .map(|i| format!("{}/v2/price-prediction/aave", proxies[i % proxies.len()]))
        .collect();
    let mut served = 0;
    for _ in 0..100 {
        let answers = futures::future::join_all(urls.iter().map(|u| get(http, u, &rcpt))).await;
        let mut exhausted = 0;
        for a in &answers {
            match a.status {
                200 => served += 1,
                503 => assert_eq!(a.body["error"], json!("receipt_calls_held"), "{a:?}"),
                _ => {
                    assert!(error_of(a).starts_with("receipt_exhausted"), "{a:?}");
                    exhausted += 1;
                }
            }
        }
        if exhausted == burst {
            return served;
        }
    }
    panic!("the bundle was not used up after 100 bursts");
}

/// Two gateway instances (own pools, own caches) over one store, racing on one receipt.
async fn two_instances(db: Db, lease: u32, calls: u64) -> Option<(World, Proxy, Proxy)> {
    let w = world(db, lease).await?;
    let toml = config_toml(&w.env, &w.api.url, lease, calls);
    let a = serve(gateway(&w.env, &toml, &["k1"], "k1").await, &w.api.url).await;
    let b = serve(gateway(&w.env, &toml, &["k1"], "k1").await, &w.api.url).await;
    Some((w, a, b))
}

both_stores!(two_instances_serve_exactly_n, |db: Db| async move {
    let calls = 20;
    let Some((w, a, b)) = two_instances(db, 1, calls).await else {
        return;
    };
    let token = buy_bundle_n(&w, &a.url, calls).await;
    let served = spend_until_used_up(&w.http, &[&a.url, &b.url], &token, 2 * calls as usize).await;
    assert_eq!(
        served as u64,
        calls - 1,
        "the paying call was the first of {calls}"
    );
    assert_eq!(w.api.demo.served(), calls);
});

both_stores!(leased_blocks_never_over_serve, |db: Db| async move {
    let calls = 20;
    let Some((w, a, b)) = two_instances(db, 4, calls).await else {
        return;
    };
    let token = buy_bundle_n(&w, &a.url, calls).await;
    // Keep asking both instances until both refuse: nothing stays held.
    let served = spend_until_used_up(&w.http, &[&a.url, &b.url], &token, calls as usize).await;
    assert_eq!(served as u64, calls - 1);
    assert_eq!(w.api.demo.served(), calls);
});

/// Buys a bundle of `calls` through a proxy built with that bundle size.
async fn buy_bundle_n(w: &World, proxy: &str, calls: u64) -> String {
    let url = format!("{proxy}/v2/price-prediction/aave");
    let challenge = w.get(&url, &[]).await;
    let desc: Value = challenge.decoded("payment-required")["resource"]["description"].clone();
    assert!(
        desc.as_str().unwrap().contains(&format!("{calls} calls")),
        "{desc}"
    );
    buy_bundle(&w.http, &w.env, proxy, 0).await
}
