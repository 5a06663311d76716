//! `EvmChain::set_signers` on a real anvil: a key retired while a transaction it signed is still
//! unsent finishes that transaction; added back while it is still unsent, it resumes its own
//! nonces (the chain's pending count does not know that transaction yet); added back after
//! everything it signed has landed, it starts from the chain's count. No nonce gap, no clash.

use std::sync::Arc;
use std::time::Duration;

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::network::TransactionResponse as _;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_evm::{ChainConfig, EvmChain};
use tollgate_proto::{Broadcast, Network, SignedTx};

/// Sends `tx` and waits for it to land successfully; returns its sender and nonce.
async fn land(chain: &EvmChain, dev: &DevEvm, tx: &SignedTx) -> (Address, u64) {
    assert_eq!(
        chain.broadcast(tx).await,
        Broadcast::Accepted,
        "{}",
        tx.hash
    );
    let mined = chain
        .wait_receipt(&tx.hash, Duration::from_secs(20))
        .await
        .expect("receipt");
    assert_eq!(mined, Some(true), "landed");
    let h: B256 = tx.hash.parse().expect("hash");
    let t = dev
        .anvil
        .provider()
        .get_transaction_by_hash(h)
        .await
        .expect("lookup")
        .expect("on chain");
    (t.from(), t.nonce())
}

/// A dev chain, and a chain client signing with the facilitator's key `a`; `b` is a second
/// key with ETH, not yet in use.
async fn chain_with_two_keys() -> (DevEvm, Arc<EvmChain>, PrivateKeySigner, PrivateKeySigner) {
    let anvil = Anvil::start(AnvilOptions::default()).await.expect("anvil");
    let dev = DevEvm::start(anvil, 0, U256::ZERO)
        .await
        .expect("dev chain");
    let a = dev.facilitator.clone();
    let b = PrivateKeySigner::random();
    dev.anvil
        .set_balance(b.address(), U256::from(10u128.pow(21)))
        .await
        .unwrap();
    let network = Network::evm(dev.anvil.chain_id);
    let cfg = ChainConfig::new(network, dev.anvil.rpc_url.clone(), vec![a.clone()]);
    let chain = EvmChain::connect(cfg).await.expect("connects");
    (dev, chain, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_key_finishes_its_transactions_and_resumes_its_nonces() {
    let (dev, chain, a, b) = chain_with_two_keys().await;
    let call = || chain.sign_call(dev.pay_to, Bytes::new());

    let unsent = call().await.expect("a signs nonce 0");
    let change = chain.set_signers(vec![b.clone()]).await.expect("swap");
    assert_eq!(
        (change.added, change.retired, change.kept),
        (vec![b.address()], vec![a.address()], 0)
    );
    assert_eq!(chain.signer_addresses(), vec![b.address()]);
    let by_b = call().await.expect("b signs");

    // Added back while its nonce 0 is still unsent: it resumes at 1, not at the chain's 0.
    chain
        .set_signers(vec![a.clone(), b.clone()])
        .await
        .expect("re-add");
    let (x, y) = (call().await.expect("x"), call().await.expect("y"));
    assert_eq!(land(&chain, &dev, &unsent).await, (a.address(), 0));
    let mut landed = vec![
        land(&chain, &dev, &by_b).await,
        land(&chain, &dev, &x).await,
        land(&chain, &dev, &y).await,
    ];
    landed.sort();
    let mut want = vec![(a.address(), 1), (b.address(), 0), (b.address(), 1)];
    want.sort();
    assert_eq!(landed, want, "round-robin over both, no nonce clash");

    // Retired with nothing in flight, then added back: it starts from the chain's count.
    chain.set_signers(vec![b.clone()]).await.expect("retire a");
    chain
        .set_signers(vec![a.clone(), b.clone()])
        .await
        .expect("re-add a");
    let (x, y) = (call().await.expect("x"), call().await.expect("y"));
    let mut landed = vec![land(&chain, &dev, &x).await, land(&chain, &dev, &y).await];
    landed.sort();
    let mut want = vec![(a.address(), 2), (b.address(), 2)];
    want.sort();
    assert_eq!(landed, want);

    assert!(
        chain.set_signers(Vec::new()).await.is_err(),
        "an empty set is refused"
    );
    assert_eq!(
        chain.signer_addresses().len(),
        2,
        "and the keys in use stay"
    );
}

/// The retired key's first transaction is refused (its gas money ran short) while its second is
/// already signed: the refused nonce is filled with a cheap self-transfer at once, since the key
/// signs nothing new that could take it, and the second transaction still lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_keys_refused_nonce_is_filled_so_its_later_transaction_lands() {
    let (dev, chain, a, b) = chain_with_two_keys().await;
    let first = chain.sign_call(dev.pay_to, Bytes::new()).await.expect("0");
    let second = chain.sign_call(dev.pay_to, Bytes::new()).await.expect("1");
    chain.set_signers(vec![b]).await.expect("retire a");

    // Enough for a 21k-gas filler, not for the 300k-gas settlement call.
    let max_fee = TxEnvelope::decode_2718(&mut first.raw.as_slice())
        .expect("decodes")
        .max_fee_per_gas();
    dev.anvil
        .set_balance(a.address(), U256::from(100_000u128 * max_fee))
        .await
        .unwrap();
    let refused = chain.broadcast(&first).await;
    assert!(
        matches!(&refused, Broadcast::Rejected(m) if m.to_lowercase().contains("insufficient funds")),
        "{refused:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dev.tx_count(a.address()).await.expect("nonce") < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused nonce is filled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dev.anvil
        .set_balance(a.address(), U256::from(10u128.pow(18)))
        .await
        .unwrap();
    assert_eq!(land(&chain, &dev, &second).await, (a.address(), 1));
}
