use axum::http::{HeaderValue, Response};

use super::*;
use crate::pricing::tests::asset;

fn usdc() -> PricedAsset {
    asset("USDC", 6, "1", None)
}

/// An answer with these headers (and the extension, when given).
fn answer(headers: &[(&str, &str)], ext: Option<Charge>) -> Parts {
    let mut r = Response::new(());
    for (k, v) in headers {
        r.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    if let Some(c) = ext {
        r.extensions_mut().insert(c);
    }
    r.into_parts().0
}

fn u(n: u64) -> U256 {
    U256::from(n)
}

fn over(amount: &str) -> String {
    format!(r#"{{"amount":"{amount}"}}"#)
}

fn rows_meter(unit_price: &str) -> Upto {
    Upto {
        meter: Some(Meter {
            header: HeaderName::from_static("x-result-rows"),
            unit_price: Money::parse(unit_price).unwrap(),
        }),
    }
}

#[test]
fn overrides_read_as_the_sdk_writes_them() {
    let max = u(50_000);
    let charge = |amount: &str| {
        let mut p = answer(&[(SETTLEMENT_OVERRIDES, &over(amount))], None);
        Upto::default().charge("r", &usdc(), max, &mut p)
    };
    assert_eq!(charge("12345"), u(12_345));
    assert_eq!(charge("0"), u(0));
    // 37.5% of 50000 = 18750; 33.33% of 50000 = 16665 (rounded down).
    assert_eq!(charge("37.5%"), u(18_750));
    assert_eq!(charge("33.33%"), u(16_665));
    assert_eq!(charge("$0.0123"), u(12_300));
    // A dollar charge below one atomic unit rounds up, as prices do.
    assert_eq!(charge("$0.0000001"), u(1));
}

#[test]
fn dollars_go_through_the_assets_rate_and_discount() {
    // TMAI at $0.02 with 10% off: $0.01 is 0.45 TMAI (18 decimals), above 2^64 atomic units
    // for a large enough charge.
    let tmai = asset("TMAI", 18, "0.02", Some("10"));
    let max = U256::from(10u8).pow(U256::from(21u8)); // 1000 TMAI
    let mut p = answer(&[(SETTLEMENT_OVERRIDES, &over("$0.01"))], None);
    let c = Upto::default().charge("r", &tmai, max, &mut p);
    assert_eq!(c, U256::from(450_000_000_000_000_000u64));
    let mut p = answer(&[(SETTLEMENT_OVERRIDES, &over("$19"))], None);
    let c = Upto::default().charge("r", &tmai, max, &mut p);
    assert_eq!(c.to_string(), "855000000000000000000");
    assert!(c > U256::from(u64::MAX));
}

#[test]
fn a_charge_above_the_maximum_is_the_maximum() {
    let max = u(50_000);
    for amount in ["50001", "100.01%", "$1"] {
        let mut p = answer(&[(SETTLEMENT_OVERRIDES, &over(amount))], None);
        assert_eq!(
            Upto::default().charge("r", &usdc(), max, &mut p),
            max,
            "{amount}"
        );
    }
}

#[test]
fn an_unreadable_charge_is_the_maximum_and_never_reaches_the_payer() {
    let max = u(50_000);
    let long = over(&"1".repeat(300));
    for value in [
        "not json",
        r#"{"amount": 5}"#,
        r#"{"amount":"5","extra":1}"#,
        r#"{}"#,
        &over("-5"),
        &over("1.5"),
        &over("12.345%"),
        &over("$"),
        &over("0x10"),
        &long,
    ] {
        let mut p = answer(&[(SETTLEMENT_OVERRIDES, value)], None);
        assert_eq!(
            Upto::default().charge("r", &usdc(), max, &mut p),
            max,
            "{value}"
        );
        assert!(p.headers.get(SETTLEMENT_OVERRIDES).is_none(), "{value}");
    }
    // Sent twice, it is ambiguous: the maximum, and both copies go.
    let mut p = answer(
        &[
            (SETTLEMENT_OVERRIDES, &over("1")),
            (SETTLEMENT_OVERRIDES, &over("2")),
        ],
        None,
    );
    assert_eq!(Upto::default().charge("r", &usdc(), max, &mut p), max);
    assert!(p.headers.get(SETTLEMENT_OVERRIDES).is_none());
}

#[test]
fn no_charge_named_is_the_maximum() {
    let mut p = answer(&[], None);
    assert_eq!(Upto::default().charge("r", &usdc(), u(7), &mut p), u(7));
}

#[test]
fn a_meter_counts_units_at_the_unit_price() {
    let max = u(50_000);
    let upto = rows_meter("0.002");
    let charge = |rows: &str| {
        let mut p = answer(&[("x-result-rows", rows)], None);
        let c = upto.charge("r", &usdc(), max, &mut p);
        assert_eq!(p.headers["x-result-rows"], rows, "the meter header stays");
        c
    };
    assert_eq!(charge("12"), u(24_000));
    assert_eq!(charge("0"), u(0));
    assert_eq!(charge("2.5"), u(5_000));
    assert_eq!(charge("26"), max);
    // Missing or unreadable: the maximum.
    assert_eq!(charge("many"), max);
    assert_eq!(charge("-1"), max);
    let mut p = answer(&[], None);
    assert_eq!(upto.charge("r", &usdc(), max, &mut p), max);
}

#[test]
fn the_extension_wins_over_the_header_and_the_header_over_the_meter() {
    let max = u(50_000);
    let upto = rows_meter("0.002");
    let ext = Some(Charge::Atomic(u(1)));
    let mut p = answer(
        &[(SETTLEMENT_OVERRIDES, &over("2")), ("x-result-rows", "3")],
        ext,
    );
    assert_eq!(upto.charge("r", &usdc(), max, &mut p), u(1));
    assert!(p.extensions.get::<Charge>().is_none());
    assert!(p.headers.get(SETTLEMENT_OVERRIDES).is_none());
    let mut p = answer(
        &[(SETTLEMENT_OVERRIDES, &over("2")), ("x-result-rows", "3")],
        None,
    );
    assert_eq!(upto.charge("r", &usdc(), max, &mut p), u(2));
    let units = Some(Charge::Units(TokenAmount::parse_units("4", 0).unwrap()));
    let mut p = answer(&[], units);
    assert_eq!(upto.charge("r", &usdc(), max, &mut p), u(8_000));
    // Units on a route without a unit price cannot be priced: the maximum.
    let mut p = answer(&[], units);
    assert_eq!(Upto::default().charge("r", &usdc(), max, &mut p), max);
}
