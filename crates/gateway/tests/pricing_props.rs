//! Property tests for pricing: for random USD prices, rates, discounts and decimals, the atomic
//! amount is worth at least the discounted price, and less than one atomic unit more.

use proptest::prelude::*;
use tollgate_proto::U256;
use tollgate_proto::money::{Discount, Money, atomic_for_price};

/// 10^-18 USD units of a random price up to $1000 with up to 18 fraction digits.
fn money(max_units: u128) -> impl Strategy<Value = Money> {
    (1..=max_units).prop_map(|u| Money::from_units(U256::from(u)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn amount_covers_the_discounted_price_by_less_than_one_unit(
        price in money(1_000u128 * 10u128.pow(18)),
        rate in money(100_000u128 * 10u128.pow(18)),
        ppm in 0u32..1_000_000,
        decimals in 0u8..=24,
    ) {
        let discount = Discount::from_ppm(ppm).unwrap();
        let a = atomic_for_price(price, rate, discount, decimals).unwrap().atomic;
        // Compare value * 10^decimals * 10^6 on both sides, all in exact integers:
        // paid = a * rate * 10^6, owed = price * (10^6 - ppm) * 10^decimals.
        let scale = U256::from(10u8).pow(U256::from(decimals));
        let million = U256::from(1_000_000u64);
        let paid = a * rate.units() * million;
        let owed = price.units() * U256::from(1_000_000 - ppm) * scale;
        prop_assert!(paid >= owed, "seller short: a={a} price={price} rate={rate} ppm={ppm}");
        let one_unit = rate.units() * million;
        prop_assert!(paid - owed < one_unit, "overcharged by a unit or more: a={a}");
    }

    #[test]
    fn human_prices_round_trip_exactly(whole in 0u64..1_000_000, frac in 0u64..1_000_000_000_000_000_000) {
        let s = format!("{whole}.{frac:018}");
        let m = Money::parse(&s).unwrap();
        prop_assert_eq!(m.units(), U256::from(whole) * U256::from(10u64).pow(U256::from(18u8)) + U256::from(frac));
    }
}

#[test]
fn the_brief_examples_hold() {
    let usdc = atomic_for_price(
        Money::parse("0.017").unwrap(),
        Money::parse("1").unwrap(),
        Discount::NONE,
        6,
    )
    .unwrap();
    assert_eq!(usdc.atomic, U256::from(17_000u64));
    let ten = Discount::parse_percent("10").unwrap();
    let tmai = atomic_for_price(
        Money::parse("0.068").unwrap(),
        Money::parse("0.02").unwrap(),
        ten,
        18,
    )
    .unwrap();
    assert_eq!(tmai.to_string(), "3.06");
}
