use std::io::Read;

use super::*;
use crate::outstanding::Proof;

fn entry(id: &str, key: &AssetKey, amount: u64) -> Outstanding {
    Outstanding {
        id: id.into(),
        asset: key.to_string(),
        amount: U256::from(amount),
        expires: 0,
        proof: Proof::Solana {
            network: "solana:x".into(),
            payer: "p".into(),
            signature: id.into(),
            slot: 0,
            last_valid_block_height: 0,
        },
    }
}

/// A spend file in a fresh temp dir (kept while the returned guard lives).
fn spend_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spent.json");
    (dir, path)
}

#[test]
fn budget_holds_across_threads_and_processes() {
    let (_dir, path) = spend_file();
    let key = AssetKey::new("eip155:8453", "0xAA");
    let budget = Some(U256::from(1_000u64));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                // A separate Spending per thread: like separate processes sharing the file.
                let sp = Spending::in_file(&path);
                for _ in 0..100 {
                    let _ = sp.reserve(&key, U256::from(7u64), budget);
                }
            });
        }
    });
    let spent = Spending::in_file(&path).spent(&key).unwrap();
    assert_eq!(
        spent,
        U256::from(994u64),
        "142 payments of 7 fit in 1000, and no more"
    );
}

#[test]
fn release_and_overflow() {
    let sp = Spending::in_memory();
    let key = AssetKey::new("eip155:8453", "0xaa");
    sp.reserve(&key, U256::MAX, None).unwrap();
    assert!(
        sp.reserve(&key, U256::from(1u8), None).is_err(),
        "no wrap past 2^256-1"
    );
    sp.release(&key, U256::MAX).unwrap();
    assert_eq!(sp.spent(&key).unwrap(), U256::ZERO);
}

#[test]
fn the_file_is_replaced_never_rewritten_in_place() {
    let (dir, path) = spend_file();
    let key = AssetKey::new("eip155:8453", "0xaa");
    let sp = Spending::in_file(&path);
    sp.reserve(&key, U256::from(5u64), None).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    // A reader that opened the file before a write keeps reading the old contents, whole.
    let mut reader = std::fs::File::open(&path).unwrap();
    sp.reserve(&key, U256::from(6u64), None).unwrap();
    let mut seen = String::new();
    reader.read_to_string(&mut seen).unwrap();
    assert_eq!(
        seen, before,
        "the old file was truncated or rewritten in place"
    );
    assert_eq!(sp.spent(&key).unwrap(), U256::from(11u64));
    // A write that cannot complete (its temp file cannot be created) leaves the file as it was.
    std::fs::create_dir(dir.path().join("spent.json.tmp")).unwrap();
    let whole = std::fs::read_to_string(&path).unwrap();
    assert!(sp.reserve(&key, U256::from(1u64), None).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
    assert_eq!(sp.spent(&key).unwrap(), U256::from(11u64));
    assert!(
        dir.path().join("spent.json.lock").exists(),
        "the lock lives beside the data"
    );
}

#[test]
fn outstanding_payments_stay_reserved_until_the_chain_says_unspent() {
    let (_dir, path) = spend_file();
    let key = AssetKey::new("eip155:8453", "0xaa");
    let a = Spending::in_file(&path);
    let budget = Some(U256::from(10u64));
    for id in ["x", "y"] {
        a.reserve(&key, U256::from(5u64), budget).unwrap();
        a.hold(entry(id, &key, 5)).unwrap();
    }
    assert!(a.reserve(&key, U256::from(5u64), budget).is_err());
    // Another process sees the same outstanding payments.
    let b = Spending::in_file(&path);
    assert_eq!(b.outstanding().unwrap().len(), 2);
    assert!(!b.resolve("x", Verdict::Pending).unwrap());
    assert!(
        !b.resolve("x", Verdict::Spent).unwrap(),
        "spent stays spent"
    );
    assert!(b.resolve("y", Verdict::Unspent).unwrap());
    assert!(
        !a.resolve("y", Verdict::Unspent).unwrap(),
        "given back once"
    );
    assert_eq!(a.spent(&key).unwrap(), U256::from(5u64));
    assert!(a.outstanding().unwrap().is_empty());
    a.reserve(&key, U256::from(5u64), budget).unwrap();
}

#[test]
fn the_earlier_file_layout_still_reads_and_junk_is_refused() {
    let (_dir, path) = spend_file();
    std::fs::write(&path, r#"{"eip155:8453/0xaa": "42"}"#).unwrap();
    let key = AssetKey::new("eip155:8453", "0xaa");
    assert_eq!(
        Spending::in_file(&path).spent(&key).unwrap(),
        U256::from(42u64)
    );
    std::fs::write(&path, r#"{"spent": {}, "extra": 1}"#).unwrap();
    assert!(Spending::in_file(&path).spent(&key).is_err());
    std::fs::write(&path, r#"{"eip155:8453/0xaa": "-1"}"#).unwrap();
    assert!(Spending::in_file(&path).spent(&key).is_err());
}

#[test]
fn an_upto_payment_keeps_what_it_charged_and_gives_back_the_rest() {
    let (_dir, path) = spend_file();
    let key = AssetKey::new("eip155:8453", "0xTMAI");
    // 1000 TMAI maximum at 18 decimals: above 2^64 atomic units.
    let max = U256::from(10u8).pow(U256::from(21u8));
    let sp = Spending::in_file(&path);
    sp.reserve(&key, max, Some(max)).unwrap();
    let mut e = entry("upto-1", &key, 0);
    e.amount = max;
    sp.hold(e).unwrap();
    let charged = U256::from(123_456_789_000_000_000_000u128);
    sp.settled("upto-1", charged).unwrap();
    assert_eq!(sp.spent(&key).unwrap(), charged);
    assert!(sp.outstanding().unwrap().is_empty());
    // Told again (another process, a repeated answer): nothing changes.
    sp.settled("upto-1", U256::ZERO).unwrap();
    assert_eq!(sp.spent(&key).unwrap(), charged);
    // What was given back can be spent again, up to the budget exactly.
    sp.reserve(&key, max - charged, Some(max)).unwrap();
    assert!(sp.reserve(&key, U256::from(1u8), Some(max)).is_err());
}

#[test]
fn a_settled_charge_above_the_reservation_keeps_the_reservation() {
    let sp = Spending::in_memory();
    let key = AssetKey::new("eip155:8453", "0xAA");
    sp.reserve(&key, U256::from(50u64), None).unwrap();
    sp.hold(entry("p", &key, 50)).unwrap();
    sp.settled("p", U256::from(70u64)).unwrap();
    assert_eq!(sp.spent(&key).unwrap(), U256::from(50u64));
}
