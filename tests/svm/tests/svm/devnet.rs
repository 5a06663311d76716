//! The local validator itself: ready for the first transaction the moment it is started.

use tollgate_solana::{Keypair, Signer};
use tollgate_solana_devnet::{History, SolanaDevnet};

/// `start` returns only when the `confirmed` bank (the one the helpers simulate against) is past
/// genesis: a transaction sent at once is not refused for a slot-hashes sysvar that genesis
/// does not have yet ("Attempt to debit an account but found no record of a prior credit").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_validator_takes_a_transaction_at_once() {
    let devnet = SolanaDevnet::start_async_keeping(History::NotKept)
        .await
        .expect("validator starts");
    let confirmed = devnet.rpc().get_slot().await.expect("slot");
    assert!(confirmed > 0, "the confirmed bank is still genesis");
    let wallet = Keypair::new();
    devnet
        .fund_sol(&[wallet.pubkey()], 1_000_000)
        .await
        .expect("the first transaction is taken");
    assert_eq!(devnet.lamports(&wallet.pubkey()).await.unwrap(), 1_000_000);
}
