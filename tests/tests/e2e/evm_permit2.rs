//! Permit2 `exact` (TMAI, 18 decimals) on a real anvil with the canonical Permit2 and our x402
//! proxy, through the facilitator's HTTP API, on SQLite and PostgreSQL.

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use tollgate_e2e::{
    Db, Env, Permit2Payment, Tamper, both_stores, now, tampered, tmai, witness_tampers,
};
use tollgate_evm::{EIP2612_GAS_SPONSORING, EXACT_PERMIT2_PROXY};
use tollgate_proto::reason;

/// 0.0153 TMAI: a price-sized amount.
fn price() -> U256 {
    U256::from(15_300_000_000_000_000u64)
}

fn tx_hash(v: &Value) -> &str {
    v["transaction"].as_str().expect("transaction field")
}

fn payment(env: &Env, i: usize, amount: U256) -> Permit2Payment {
    Permit2Payment::new(&env.dev, &env.network, env.payer(i).clone(), amount)
}

both_stores!(approved_payments_settle_once_each, env = Env::start, {
    env.fund_tmai(0, tmai(1000), true).await;
    let payer = env.payer(0).address();
    let big = tmai(200);
    assert!(big > U256::from(u64::MAX), "200 TMAI does not fit in a u64");

    let mut hashes = Vec::new();
    for amount in [big, price()] {
        let pay = payment(&env, 0, amount);
        let s = env.settles(&pay.v2(), &payer.to_checksum(None)).await;
        assert_eq!(s["amount"], json!(amount.to_string()));
        hashes.push(tx_hash(&s).to_string());

        let (_, again) = env.post("/settle", &pay.v2()).await;
        assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
        assert_eq!(tx_hash(&again), hashes.last().unwrap().as_str());
        let (_, v) = env.post("/verify", &pay.v2()).await;
        assert_eq!(v["invalidReason"], json!(reason::DUPLICATE_SETTLEMENT));
    }
    let paid = big + price();
    assert_eq!(env.tmai(payer).await, tmai(1000) - paid);
    assert_eq!(env.tmai(env.dev.pay_to).await, paid);
    assert_eq!(env.settlements_sent().await, 2);
});

both_stores!(
    eip2612_permit_pays_without_approval_or_gas,
    env = Env::start,
    {
        env.fund_tmai(0, tmai(300), false).await;
        let payer = env.payer(0).address();
        let eth_before = env.dev.eth_balance(payer).await.expect("eth");
        let nonce = env
            .dev
            .permit_nonce(env.dev.tmai.address, payer)
            .await
            .expect("nonce");
        let pay = payment(&env, 0, tmai(200)).with_permit(nonce);

        let (_, supported) = env.get("/supported").await;
        let supported: Value = serde_json::from_str(&supported).expect("json");
        assert_eq!(supported["extensions"], json!([EIP2612_GAS_SPONSORING]));

        let (status, v) = env.post("/verify", &pay.v2()).await;
        assert_eq!((status, &v["isValid"]), (200, &json!(true)), "{v}");
        let (_, s) = env.post("/settle", &pay.v2()).await;
        assert_eq!(s["success"], json!(true), "{s}");
        let receipt = env
            .dev
            .anvil
            .provider()
            .get_transaction_receipt(tx_hash(&s).parse().expect("hash"))
            .await
            .expect("rpc")
            .expect("mined");
        assert!(
            receipt.gas_used < 200_000,
            "settleWithPermit used {} gas; the settlement gas limit must stay well above it",
            receipt.gas_used
        );

        assert_eq!(env.tmai(payer).await, tmai(100));
        assert_eq!(env.tmai(env.dev.pay_to).await, tmai(200));
        assert_eq!(
            env.dev.eth_balance(payer).await.expect("eth"),
            eth_before,
            "the payer pays no gas"
        );
        assert_eq!(env.dev.tx_count(payer).await.expect("nonce"), 0);
        assert_eq!(
            env.dev
                .permit2_allowance(env.dev.tmai.address, payer)
                .await
                .expect("allowance"),
            U256::ZERO,
            "the permit covered exactly this payment"
        );
        assert_eq!(env.settlements_sent().await, 1);
        let (_, again) = env.post("/settle", &pay.v2()).await;
        assert_eq!(again["errorReason"], json!(reason::DUPLICATE_SETTLEMENT));
        assert_eq!(env.settlements_sent().await, 1);
    }
);

both_stores!(
    without_approval_or_permit_an_allowance_is_required,
    env = Env::start,
    {
        env.fund_tmai(0, tmai(10), false).await;
        let pay = payment(&env, 0, price());
        env.refused(
            "no allowance",
            &pay.v2(),
            reason::PERMIT2_ALLOWANCE_REQUIRED,
        )
        .await;
        assert_eq!(env.tmai(env.dev.pay_to).await, U256::ZERO);
        assert_eq!(env.settlements_sent().await, 0);
    }
);

/// What breaks an `exact` Permit2 payment beyond its witness, window and signature.
fn rejection_cases() -> Vec<Tamper> {
    let mut cases = witness_tampers();
    cases.extend::<[Tamper; 6]>([
        (
            "spender is not the proxy",
            |p| p.auth.spender = Address::repeat_byte(5),
            reason::PERMIT2_SPENDER,
        ),
        (
            "permitted amount lower",
            |p| p.auth.amount -= U256::from(1u8),
            reason::PERMIT2_AMOUNT_MISMATCH,
        ),
        (
            "permitted amount higher",
            |p| p.auth.amount += U256::from(1u8),
            reason::PERMIT2_AMOUNT_MISMATCH,
        ),
        (
            "permitted token differs",
            |p| p.auth.token = Address::repeat_byte(9),
            reason::PERMIT2_TOKEN_MISMATCH,
        ),
        (
            "payload network differs",
            |p| p.accepted_network = "eip155:8453".into(),
            reason::EVM_NETWORK_MISMATCH,
        ),
        (
            "requirement asks for EIP-3009",
            |p| p.method = Some("eip3009".into()),
            reason::UNSUPPORTED_PAYLOAD_TYPE,
        ),
    ]);
    cases
}

both_stores!(
    each_bad_payment_is_refused_with_its_reason_and_moves_nothing,
    env = Env::start,
    {
        env.fund_tmai(0, tmai(10), true).await;
        env.fund_tmai(1, U256::ZERO, true).await;
        let mut cases = tampered(rejection_cases(), || payment(&env, 0, price()));
        cases.push((
            "payer without balance",
            payment(&env, 1, price()),
            reason::PERMIT2_INSUFFICIENT_BALANCE,
        ));
        let payer = env.payer(0).address();
        for (what, pay, want) in &cases {
            env.refused(what, &pay.v2(), want).await;
        }
        assert_eq!(env.tmai(payer).await, tmai(10));
        assert_eq!(env.tmai(env.dev.pay_to).await, U256::ZERO);
        assert_eq!(env.settlements_sent().await, 0);
    }
);

both_stores!(
    bad_eip2612_permits_are_refused_and_move_nothing,
    env = Env::start,
    {
        env.fund_tmai(0, tmai(10), false).await;
        let payer = env.payer(0).address();
        let good = || payment(&env, 0, price()).with_permit(U256::ZERO);
        let permit = |f: fn(&mut tollgate_evm::Eip2612Permit)| {
            let mut p = good();
            f(p.permit2612.as_mut().expect("permit"));
            p
        };
        let mut no_info = good();
        no_info.extensions = Some(json!({EIP2612_GAS_SPONSORING: {"info": {"from": "0x12"}}}));
        let mut short_sig = good();
        short_sig
            .permit2612
            .as_mut()
            .expect("permit")
            .signature
            .truncate(64);
        let mut wrong_signer = good();
        wrong_signer.permit2612 = Permit2Payment {
            signer: PrivateKeySigner::random(),
            ..good()
        }
        .with_permit(U256::ZERO)
        .permit2612
        .map(|mut p| {
            p.from = payer;
            p
        });
        let cases = [
            ("malformed info", no_info, reason::EIP2612_EXTENSION_FORMAT),
            (
                "short signature",
                short_sig,
                reason::EIP2612_EXTENSION_FORMAT,
            ),
            (
                "from is not the payer",
                permit(|p| p.from = Address::repeat_byte(3)),
                reason::EIP2612_FROM_MISMATCH,
            ),
            (
                "asset differs",
                permit(|p| p.asset = Address::repeat_byte(4)),
                reason::EIP2612_ASSET_MISMATCH,
            ),
            (
                "spender is not Permit2",
                permit(|p| p.spender = EXACT_PERMIT2_PROXY),
                reason::EIP2612_SPENDER_NOT_PERMIT2,
            ),
            (
                "permit deadline passed",
                permit(|p| p.deadline = U256::from(now() - 1)),
                reason::EIP2612_DEADLINE_EXPIRED,
            ),
            (
                "permit amount differs",
                permit(|p| p.amount = U256::MAX),
                reason::PERMIT2_2612_AMOUNT_MISMATCH,
            ),
            (
                "permit signed by another key",
                wrong_signer,
                reason::PERMIT2_ALLOWANCE_REQUIRED,
            ),
        ];
        for (what, pay, want) in &cases {
            env.refused(what, &pay.v2(), want).await;
        }
        assert_eq!(env.tmai(payer).await, tmai(10));
        assert_eq!(env.settlements_sent().await, 0);
    }
);

both_stores!(ten_concurrent_settles_broadcast_once, env = Env::start, {
    env.fund_tmai(0, tmai(300), true).await;
    let body = payment(&env, 0, tmai(200)).v2();
    env.settled_once_of_ten(&body).await;
    assert_eq!(env.settlements_sent().await, 1);
    assert_eq!(env.tmai(env.dev.pay_to).await, tmai(200));
});

both_stores!(
    a_chain_without_the_proxy_offers_no_permit2,
    env = Env::start,
    {
        let with = env.facilitator.supported();
        assert_eq!(with.extensions, vec![EIP2612_GAS_SPONSORING.to_string()]);
        let permit2_kind = |k: &tollgate_proto::v2::SupportedKind| {
            k.x402_version == 2
                && k.extra.as_ref().and_then(|e| e.get("assetTransferMethod"))
                    == Some(&json!("permit2"))
        };
        assert_eq!(with.kinds.iter().filter(|k| permit2_kind(k)).count(), 1);

        env.dev
            .anvil
            .provider()
            .raw_request::<_, ()>("anvil_setCode".into(), (EXACT_PERMIT2_PROXY, Bytes::new()))
            .await
            .expect("remove proxy");
        let bare = Env::facilitator(&env.dev, &env.db.url, std::time::Duration::from_secs(5)).await;
        let without = bare.supported();
        assert!(without.extensions.is_empty(), "{:?}", without.extensions);
        assert!(!without.kinds.iter().any(permit2_kind));
        let schemes: Vec<&str> = without.kinds.iter().map(|k| k.scheme.as_str()).collect();
        assert_eq!(
            schemes,
            ["exact", "exact", "upto"],
            "plain v2 and v1 exact remain, and upto, whose own proxy is still there"
        );
        env.fund_tmai(0, tmai(10), true).await;
        let body = serde_json::to_vec(&payment(&env, 0, price()).v2()).expect("json");
        let v = bare.verify(&body).await.expect("verify").body;
        assert_eq!(
            v.invalid_reason.as_deref(),
            Some(reason::PERMIT2_PROXY_NOT_DEPLOYED)
        );
        // EIP-3009 still works there.
        let usdc = env.payment(0, 17_000).v2();
        let v = bare
            .verify(&serde_json::to_vec(&usdc).expect("json"))
            .await
            .expect("verify")
            .body;
        assert!(v.is_valid, "{v:?}");
    }
);

alloy::sol! {
    #[sol(rpc)]
    interface ITestSmartWallet {
        function execute(address target, uint256 value, bytes data) external payable returns (bytes);
    }
    interface IApprove {
        function approve(address spender, uint256 value) external returns (bool);
    }
}

both_stores!(erc1271_wallet_pays_through_permit2, |db: Db| async move {
    use alloy::network::EthereumWallet;
    use alloy::providers::ProviderBuilder;
    use alloy::sol_types::SolCall;
    let Some(env) = Env::start(db).await else {
        return;
    };
    let owner = env.payer(0).clone();
    let wallet = env
        .dev
        .deploy_smart_wallet(owner.address())
        .await
        .expect("wallet deploys");
    let token = env.dev.tmai.address;
    env.dev.mint(token, wallet, tmai(5)).await.expect("mint");
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(owner.clone()))
        .connect_http(env.dev.anvil.rpc_url.parse().expect("url"));
    let approve = IApprove::approveCall {
        spender: tollgate_evm::PERMIT2,
        value: U256::MAX,
    }
    .abi_encode();
    let receipt = ITestSmartWallet::new(wallet, provider)
        .execute(token, U256::ZERO, approve.into())
        .send()
        .await
        .expect("send")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(receipt.status());

    let mut pay = payment(&env, 0, tmai(2));
    pay.auth.from = wallet;
    let (_, v) = env.post("/verify", &pay.v2()).await;
    assert_eq!(v["isValid"], json!(true), "{v}");
    let (_, s) = env.post("/settle", &pay.v2()).await;
    assert_eq!(s["success"], json!(true), "{s}");
    assert_eq!(env.tmai(wallet).await, tmai(3));
    assert_eq!(env.tmai(env.dev.pay_to).await, tmai(2));

    let mut forged = payment(&env, 1, tmai(2));
    forged.auth.from = wallet;
    let forged = forged.v2();
    env.refused("forged", &forged, reason::PERMIT2_SIMULATION_FAILED)
        .await;
    assert_eq!(env.tmai(wallet).await, tmai(3));
});
