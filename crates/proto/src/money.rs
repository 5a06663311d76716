//! US-dollar money and exact price conversion into token atomic units; integers only, no floats.
//!
//! A USD value is a `U256` count of 10^-18 dollars, so any price, rate or discount a provider
//! writes as a decimal string is held exactly. Conversions round up so the seller is never short.

use std::fmt;

use alloy_primitives::U256;

use crate::amount::{AmountError, TokenAmount};

/// Fraction digits of [`Money`]: one unit is 10^-18 USD.
pub const MONEY_DECIMALS: u8 = 18;

/// Longest human money or quantity string accepted.
const MAX_INPUT_BYTES: usize = 96;

/// Discounts are held in parts per million (100% = 1_000_000).
const PPM: u64 = 1_000_000;

/// Why a money, rate, discount or quantity string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("input is over {MAX_INPUT_BYTES} bytes")]
    TooLong,
    #[error("amount: {0}")]
    Amount(#[from] AmountError),
    #[error("a USD rate must be greater than zero")]
    ZeroRate,
    #[error("a discount must be below 100%")]
    DiscountTooLarge,
    #[error("a discount has at most 4 fraction digits of a percent")]
    DiscountTooPrecise,
    #[error("expected `<amount> <SYMBOL>`, e.g. `200 TMAI`")]
    QuantityShape,
    #[error("unknown asset symbol {0:?}")]
    UnknownSymbol(String),
    #[error("result does not fit in 256 bits")]
    Overflow,
}

/// An exact amount of US dollars, in units of 10^-18 USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money {
    units: U256,
}

impl Money {
    /// Zero dollars.
    pub const ZERO: Self = Self { units: U256::ZERO };

    /// Parses `"0.017"`, `"$0.017"` or `"0.017 USD"` exactly; more than 18 fraction digits is an error.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        if s.len() > MAX_INPUT_BYTES {
            return Err(MoneyError::TooLong);
        }
        let bare = s
            .strip_prefix('$')
            .or_else(|| s.strip_suffix(" USD"))
            .unwrap_or(s);
        let t = TokenAmount::parse_units(bare, MONEY_DECIMALS)?;
        Ok(Self { units: t.atomic })
    }

    /// Wraps a count of 10^-18 USD units.
    pub fn from_units(units: U256) -> Self {
        Self { units }
    }

    /// The count of 10^-18 USD units.
    pub fn units(self) -> U256 {
        self.units
    }

    /// True for zero dollars.
    pub fn is_zero(self) -> bool {
        self.units.is_zero()
    }

    /// This price per unit times `count` units (a decimal quantity such as `"12"` or `"1.5"`),
    /// rounded up to the next 10^-18 USD.
    pub fn times(self, count: TokenAmount) -> Result<Money, MoneyError> {
        let scale = U256::from(10u8)
            .checked_pow(U256::from(count.decimals))
            .ok_or(MoneyError::Overflow)?;
        let num = self
            .units
            .checked_mul(count.atomic)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_units(div_ceil(num, scale)))
    }
}

impl fmt::Display for Money {
    /// Renders like `"0.017"`, with only the significant fraction digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        TokenAmount::from_atomic(self.units, MONEY_DECIMALS).fmt(f)
    }
}

/// A price cut for paying in a given asset, held exactly in parts per million.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Discount {
    ppm: u32,
}

impl Discount {
    /// No discount.
    pub const NONE: Self = Self { ppm: 0 };

    /// Parses a percent such as `"10"`, `"12.5"` or `"10%"`; must be below 100 with ≤ 4 fraction digits.
    pub fn parse_percent(s: &str) -> Result<Self, MoneyError> {
        if s.len() > MAX_INPUT_BYTES {
            return Err(MoneyError::TooLong);
        }
        let bare = s.strip_suffix('%').unwrap_or(s);
        let t = TokenAmount::parse_units(bare, 4).map_err(|e| match e {
            AmountError::TooPrecise { .. } => MoneyError::DiscountTooPrecise,
            other => MoneyError::Amount(other),
        })?;
        // percent with 4 fraction digits = parts per million.
        if t.atomic >= U256::from(PPM) {
            return Err(MoneyError::DiscountTooLarge);
        }
        Ok(Self {
            ppm: t.atomic.to::<u32>(),
        })
    }

    /// From parts per million; `None` at or above 100%.
    pub fn from_ppm(ppm: u32) -> Option<Self> {
        (u64::from(ppm) < PPM).then_some(Self { ppm })
    }

    /// Parts per million taken off.
    pub fn ppm(self) -> u32 {
        self.ppm
    }

    /// The price after the discount, rounded up to the next 10^-18 USD.
    pub fn apply(self, price: Money) -> Money {
        let keep = U256::from(PPM - u64::from(self.ppm));
        let num = price.units * keep;
        Money::from_units(div_ceil(num, U256::from(PPM)))
    }
}

/// Atomic units of a token with `decimals` that are worth at least `price` less `discount` at
/// `usd_per_token` dollars per whole token; the smallest such amount (rounded up, never down).
pub fn atomic_for_price(
    price: Money,
    usd_per_token: Money,
    discount: Discount,
    decimals: u8,
) -> Result<TokenAmount, MoneyError> {
    if usd_per_token.is_zero() {
        return Err(MoneyError::ZeroRate);
    }
    // atomic = ceil(price * (1 - d) * 10^decimals / rate), with d = ppm / 10^6, all exact.
    let keep = U256::from(PPM - u64::from(discount.ppm));
    let scale = U256::from(10u8)
        .checked_pow(U256::from(decimals))
        .ok_or(MoneyError::Overflow)?;
    let num = price
        .units
        .checked_mul(keep)
        .and_then(|n| n.checked_mul(scale))
        .ok_or(MoneyError::Overflow)?;
    let den = usd_per_token
        .units
        .checked_mul(U256::from(PPM))
        .ok_or(MoneyError::Overflow)?;
    Ok(TokenAmount::from_atomic(div_ceil(num, den), decimals))
}

/// Parses a human token quantity such as `"200 TMAI"` exactly, looking the symbol's decimals up.
pub fn parse_quantity(
    s: &str,
    decimals_of: impl Fn(&str) -> Option<u8>,
) -> Result<(String, TokenAmount), MoneyError> {
    if s.len() > MAX_INPUT_BYTES {
        return Err(MoneyError::TooLong);
    }
    let (num, symbol) = s.split_once(' ').ok_or(MoneyError::QuantityShape)?;
    if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(MoneyError::QuantityShape);
    }
    let decimals =
        decimals_of(symbol).ok_or_else(|| MoneyError::UnknownSymbol(symbol.to_string()))?;
    Ok((symbol.to_string(), TokenAmount::parse_units(num, decimals)?))
}

fn div_ceil(num: U256, den: U256) -> U256 {
    let (q, r) = num.div_rem(den);
    if r.is_zero() { q } else { q + U256::from(1u8) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn a_unit_price_times_a_count_rounds_up() {
        let rows = TokenAmount::parse_units("12", 0).unwrap();
        assert_eq!(m("0.005").times(rows).unwrap(), m("0.06"));
        let secs = TokenAmount::parse_units("1.5", 18).unwrap();
        assert_eq!(m("0.001").times(secs).unwrap(), m("0.0015"));
        let third = TokenAmount::parse_units("0.333333333333333333", 18).unwrap();
        // 10^-18 USD x 0.33.. is below one unit: rounded up to one, never to zero.
        assert_eq!(
            Money::from_units(U256::from(1u8))
                .times(third)
                .unwrap()
                .units(),
            U256::from(1u8)
        );
        let huge = TokenAmount::from_atomic(U256::MAX, 0);
        assert_eq!(m("2").times(huge), Err(MoneyError::Overflow));
    }

    #[test]
    fn money_parses_exactly_in_every_form() {
        assert_eq!(m("0.017"), m("$0.017"));
        assert_eq!(m("0.017"), m("0.017 USD"));
        assert_eq!(m("0.017").to_string(), "0.017");
        for bad in [
            "",
            "-1",
            "0.0000000000000000001",
            "1e3",
            "$",
            "0.017USD",
            "0,5",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Money::parse(&"1".repeat(200)), Err(MoneyError::TooLong));
    }

    #[test]
    fn usdc_prices_are_exact() {
        let a = atomic_for_price(m("0.017"), m("1"), Discount::NONE, 6).unwrap();
        assert_eq!(a.atomic, U256::from(17_000u64));
        let a = atomic_for_price(m("0.068"), m("1"), Discount::NONE, 6).unwrap();
        assert_eq!(a.atomic, U256::from(68_000u64));
    }

    #[test]
    fn tmai_discount_rounds_up() {
        let ten = Discount::parse_percent("10").unwrap();
        // $0.017 * 0.9 = $0.0153 at $0.03 per TMAI = 0.51 TMAI.
        let a = atomic_for_price(m("0.017"), m("0.03"), ten, 18).unwrap();
        assert_eq!(a.to_string(), "0.51");
        // $0.01 * 0.9 / $0.07 = 0.128571428571428571428... -> rounds up at the 18th digit.
        let a = atomic_for_price(m("0.01"), m("0.07"), ten, 18).unwrap();
        assert_eq!(a.atomic, U256::from(128_571_428_571_428_572u64));
    }

    #[test]
    fn discounts_parse_strictly() {
        assert_eq!(Discount::parse_percent("10%").unwrap().ppm(), 100_000);
        assert_eq!(Discount::parse_percent("12.5").unwrap().ppm(), 125_000);
        assert_eq!(
            Discount::parse_percent("100"),
            Err(MoneyError::DiscountTooLarge)
        );
        assert_eq!(
            Discount::parse_percent("0.00001"),
            Err(MoneyError::DiscountTooPrecise)
        );
        assert!(Discount::parse_percent("-5").is_err());
    }

    #[test]
    fn zero_rate_is_refused() {
        assert_eq!(
            atomic_for_price(m("1"), Money::ZERO, Discount::NONE, 6),
            Err(MoneyError::ZeroRate)
        );
    }

    #[test]
    fn quantities_parse_exactly() {
        let dec = |s: &str| match s {
            "TMAI" => Some(18),
            "USDC" => Some(6),
            _ => None,
        };
        let (sym, q) = parse_quantity("200 TMAI", dec).unwrap();
        assert_eq!(sym, "TMAI");
        assert_eq!(
            q.atomic,
            U256::from(200u64) * U256::from(10u64).pow(U256::from(18u64))
        );
        assert!(q.atomic > U256::from(u64::MAX));
        let (_, one) = parse_quantity("0.000000000000000001 TMAI", dec).unwrap();
        assert_eq!(one.atomic, U256::from(1u8));
        assert!(matches!(
            parse_quantity("0.0000001 USDC", dec),
            Err(MoneyError::Amount(AmountError::TooPrecise {
                got: 7,
                decimals: 6
            }))
        ));
        assert_eq!(
            parse_quantity("1 DOGE", dec),
            Err(MoneyError::UnknownSymbol("DOGE".into()))
        );
        for bad in ["200", "200  TMAI", "200 TM-AI", " 200 TMAI"] {
            assert!(parse_quantity(bad, dec).is_err(), "{bad:?}");
        }
    }
}
