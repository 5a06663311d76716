//! Exact token amounts: U256 atomic units beside the asset's decimals; never floats.

use std::fmt;

use alloy_primitives::U256;

/// Longest decimal string accepted for an atomic amount (2^256-1 has 78 digits).
const MAX_ATOMIC_DIGITS: usize = 78;

/// Why an amount string was refused; the text names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount must contain only the digits 0-9 (no sign, space, exponent or fraction)")]
    NotDigits,
    #[error("amount exceeds 2^256-1")]
    Overflow,
    #[error("amount has {got} fractional digits but the asset has only {decimals}")]
    TooPrecise { got: usize, decimals: u8 },
    #[error("amount is not a decimal number")]
    Malformed,
}

/// Parses a wire amount: a plain decimal string of atomic units, nothing else.
pub fn parse_atomic(s: &str) -> Result<U256, AmountError> {
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::NotDigits);
    }
    let trimmed = s.trim_start_matches('0');
    if trimmed.len() > MAX_ATOMIC_DIGITS {
        return Err(AmountError::Overflow);
    }
    U256::from_str_radix(s, 10).map_err(|_| AmountError::Overflow)
}

/// An amount of one asset, kept with the asset's decimals so display and parsing stay exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenAmount {
    /// Atomic units (e.g. 1 USDC = 1_000_000 at 6 decimals).
    pub atomic: U256,
    /// How many decimal places one whole token has.
    pub decimals: u8,
}

impl TokenAmount {
    /// Wraps atomic units already known to be in this asset's scale.
    pub fn from_atomic(atomic: U256, decimals: u8) -> Self {
        Self { atomic, decimals }
    }

    /// Parses a wire amount string of atomic units.
    pub fn parse_atomic(s: &str, decimals: u8) -> Result<Self, AmountError> {
        parse_atomic(s).map(|atomic| Self { atomic, decimals })
    }

    /// Parses a human amount such as `"0.017"` or `"200"` exactly; extra precision is an error.
    pub fn parse_units(s: &str, decimals: u8) -> Result<Self, AmountError> {
        if s.is_empty() {
            return Err(AmountError::Empty);
        }
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(AmountError::Malformed);
        }
        let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !digits_ok(whole) || !digits_ok(frac) || (s.contains('.') && frac.is_empty()) {
            return Err(AmountError::NotDigits);
        }
        let significant = frac.trim_end_matches('0');
        if significant.len() > decimals as usize {
            return Err(AmountError::TooPrecise {
                got: significant.len(),
                decimals,
            });
        }
        let scale = U256::from(10u8).pow(U256::from(decimals));
        let whole_v = if whole.is_empty() {
            U256::ZERO
        } else {
            parse_atomic(whole)?
        };
        let mut frac_padded = significant.to_string();
        frac_padded.extend(std::iter::repeat_n(
            '0',
            decimals as usize - significant.len(),
        ));
        let frac_v = if frac_padded.is_empty() {
            U256::ZERO
        } else {
            parse_atomic(&frac_padded)?
        };
        let atomic = whole_v
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_v))
            .ok_or(AmountError::Overflow)?;
        Ok(Self { atomic, decimals })
    }

    /// Checked addition in the same asset; `None` on overflow or mismatched decimals.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        (self.decimals == other.decimals)
            .then(|| self.atomic.checked_add(other.atomic))
            .flatten()
            .map(|atomic| Self {
                atomic,
                decimals: self.decimals,
            })
    }
}

impl fmt::Display for TokenAmount {
    /// Renders whole units with exactly the significant fraction digits (`"0.017"`, `"200"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = U256::from(10u8).pow(U256::from(self.decimals));
        let (whole, frac) = self.atomic.div_rem(scale);
        if frac.is_zero() {
            return write!(f, "{whole}");
        }
        let frac = format!("{frac:0>width$}", width = self.decimals as usize);
        write!(f, "{whole}.{}", frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_rejects_everything_but_digits() {
        for bad in ["", "-1", "+1", " 1", "1 ", "1.0", "1e6", "0x10", "١"] {
            assert!(parse_atomic(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(parse_atomic("10000").unwrap(), U256::from(10_000u64));
    }

    #[test]
    fn atomic_bounds_at_u256_max() {
        let max = U256::MAX.to_string();
        assert_eq!(parse_atomic(&max).unwrap(), U256::MAX);
        let two_256 =
            "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(parse_atomic(two_256), Err(AmountError::Overflow));
        assert_eq!(parse_atomic(&"9".repeat(200)), Err(AmountError::Overflow));
    }

    #[test]
    fn units_parse_exactly() {
        let tmai = TokenAmount::parse_units("200", 18).unwrap();
        assert_eq!(
            tmai.atomic,
            U256::from(200u64) * U256::from(10u64).pow(U256::from(18u64))
        );
        assert!(tmai.atomic > U256::from(u64::MAX));
        assert_eq!(
            TokenAmount::parse_units("0.000000000000000001", 18)
                .unwrap()
                .atomic,
            U256::from(1u8)
        );
        assert_eq!(
            TokenAmount::parse_units("0.017", 6).unwrap().atomic,
            U256::from(17_000u64)
        );
        assert_eq!(
            TokenAmount::parse_units("0.0170", 6).unwrap().atomic,
            U256::from(17_000u64)
        );
        assert_eq!(
            TokenAmount::parse_units("0.0000001", 6),
            Err(AmountError::TooPrecise {
                got: 7,
                decimals: 6
            })
        );
        for bad in ["", ".", "1.", "-1", "1e3", "1,5", " 1"] {
            assert!(
                TokenAmount::parse_units(bad, 6).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["0.017", "200", "0.000000000000000001", "12345.5"] {
            assert_eq!(TokenAmount::parse_units(s, 18).unwrap().to_string(), s);
        }
    }
}
