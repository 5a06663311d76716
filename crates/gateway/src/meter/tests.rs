use super::*;

async fn store(name: &str) -> ReceiptStore {
    let file = std::env::temp_dir().join(format!(
        "tollgate-meter-{}-{name}-{}.db",
        std::process::id(),
        rand::random::<u64>()
    ));
    ReceiptStore::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap()
}

fn now() -> u64 {
    unix_now()
}

fn meter(s: &ReceiptStore) -> Meter {
    Meter::new(s.clone(), 1000, 100, 30)
}

/// Records receipt `id` with `calls` calls (`None`: a time window); the claims of its token.
async fn bought(meter: &Meter, id: &str, calls: Option<u64>) -> Claims {
    meter
        .create(&NewReceipt {
            id: id.into(),
            payer: "0xpayer".into(),
            routes: vec!["prediction".into()],
            calls_left: calls,
            expires_at: now() + 3600,
            payment_tx: None,
        })
        .await
        .unwrap();
    Claims {
        rid: id.into(),
        payer: "0xpayer".into(),
        routes: vec!["prediction".into()],
        exp: now() + 3600,
    }
}

/// Reserves and records one call; the calls left it reports.
async fn serve(m: &Meter, c: &Claims) -> Result<Option<u64>, MeterError> {
    let r = m.consume(c, now()).await?;
    m.record(r).await
}

/// Two instances serving one receipt at once, each from many tasks, serve exactly the calls
/// bought between them, and the answers count down to 0.
#[tokio::test]
async fn two_instances_serve_exactly_the_calls_bought() {
    let shared = store("exact").await;
    let (a, b) = (meter(&shared), meter(&shared));
    let c = bought(&a, "r", Some(500)).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (m, c) = (if i % 2 == 0 { a.clone() } else { b.clone() }, c.clone());
        tasks.push(tokio::spawn(async move {
            let mut served = 0u64;
            loop {
                match serve(&m, &c).await {
                    Ok(_) => served += 1,
                    Err(MeterError::Exhausted) => return served,
                    // The other instance still holds the last calls: ask again, as a client would.
                    Err(MeterError::HeldElsewhere(_)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    let mut served = 0;
    for t in tasks {
        let t = tokio::time::timeout(std::time::Duration::from_secs(60), t);
        served += t.await.expect("used up within 60 s").unwrap();
    }
    assert_eq!(served, 500);
    for m in [&a, &b] {
        assert_eq!(m.store.unserved("r").await.unwrap(), 0, "nothing left held");
    }
    assert!(
        a.store_reads() + b.store_reads() < 200,
        "takes grow with use: {} store round trips for 500 calls",
        a.store_reads() + b.store_reads()
    );
}

/// A receipt used now and then takes one call at a time; a busy one doubles its takes.
#[tokio::test]
async fn take_size_follows_the_rate_of_use() {
    let shared = store("rate").await;
    let m = meter(&shared);
    let c = bought(&m, "r", Some(100_000)).await;
    assert_eq!(serve(&m, &c).await.unwrap(), Some(99_999));
    let h = m.cache.get("r").await.flatten().expect("cached");
    assert_eq!(
        h.last_grant.load(Ordering::Relaxed),
        1,
        "the first take is one call"
    );
    // Idle for a minute after one call: the next take is one call again.
    h.since_take.store(1, Ordering::Relaxed);
    h.took_at_ms.store(5_000, Ordering::Relaxed);
    assert_eq!(m.next_size(&h, 65_000), 1);
    // Ten calls within half a second: twice as many next time.
    h.since_take.store(10, Ordering::Relaxed);
    assert_eq!(m.next_size(&h, 65_500), 20);
    assert_eq!(m.next_size(&h, 65_600), 1, "nothing since");
}

/// An instance that meets a receipt only once another holds its last calls is told to retry,
/// not that the receipt is used up (which would make a client buy again).
#[tokio::test]
async fn the_last_calls_held_elsewhere_are_not_exhausted() {
    let shared = store("late").await;
    let (a, b) = (meter(&shared), meter(&shared));
    let c = bought(&a, "r", Some(3)).await;
    let held: Vec<Reserved> = vec![
        a.consume(&c, now()).await.unwrap(),
        a.consume(&c, now()).await.unwrap(),
        a.consume(&c, now()).await.unwrap(),
    ];
    assert_eq!(shared.get("r").await.unwrap().unwrap().calls_left, Some(0));
    assert!(matches!(
        b.consume(&c, now()).await,
        Err(MeterError::HeldElsewhere(_))
    ));
    drop(held);
    assert!(a.release().await.unwrap() == 3, "a stops: all three back");
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                match b.consume(&c, now()).await {
                    Ok(r) => return r,
                    Err(MeterError::HeldElsewhere(_)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await
        .is_ok(),
        "b serves them once a gave them back"
    );
}

/// A reserved call that is dropped (the upstream failed, the caller left) goes back; one that
/// is recorded does not, and a stopping instance gives every held call back to the store.
#[tokio::test]
async fn unserved_calls_go_back_and_release_empties_the_holds() {
    let shared = store("release").await;
    let m = meter(&shared);
    let c = bought(&m, "r", Some(10)).await;
    for _ in 0..4 {
        serve(&m, &c).await.unwrap();
    }
    let r = m.consume(&c, now()).await.unwrap();
    drop(r);
    assert!(m.release().await.unwrap() > 0, "calls were held");
    let row = shared.get("r").await.unwrap().unwrap();
    assert_eq!(
        row.calls_left,
        Some(6),
        "4 served, the dropped one and the held ones back"
    );
    let mut more = 0;
    while serve(&m, &c).await.is_ok() {
        more += 1;
    }
    assert_eq!(more, 6);
}

/// A revocation made by one instance stops another instance's held calls at once (the hold is
/// gone) and its time-window receipts at the next read of the revocation list.
#[tokio::test]
async fn revocation_reaches_another_instance() {
    let shared = store("revoke").await;
    let (a, b) = (meter(&shared), meter(&shared));
    let c = bought(&a, "r1", Some(20)).await;
    let w = bought(&a, "w1", None).await;
    serve(&b, &c).await.expect("b holds calls");
    assert_eq!(serve(&b, &w).await.unwrap(), None, "windows count nothing");
    assert!(a.revoke("r1", now()).await.unwrap());
    assert!(a.revoke("w1", now()).await.unwrap());
    assert!(matches!(serve(&a, &c).await, Err(MeterError::Revoked)));
    assert!(
        matches!(serve(&b, &c).await, Err(MeterError::Revoked)),
        "b refuses at once"
    );
    assert!(serve(&b, &w).await.is_ok(), "not yet read");
    b.poll_once(now(), now() + RECHECK_SECS).await;
    assert!(matches!(serve(&b, &w).await, Err(MeterError::Revoked)));
}
