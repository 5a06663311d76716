//! What an `upto` call costs. The handler names its charge: an axum handler behind the Layer
//! sets a [`Charge`] extension on its response, any upstream may send the SDK's
//! `Settlement-Overrides` header, and a route with a meter reads a unit count from a response
//! header. The gateway turns the charge into the paid asset's atomic units and caps it at the
//! maximum the payer authorized. A charge above the maximum is capped and logged, never refused
//! once the work is done; a charge that cannot be read is the maximum (the payer authorized it,
//! and serving for less by accident is the seller's loss), and is logged.

use axum::http::HeaderName;
use axum::http::response::Parts;
use serde::Deserialize;
use tollgate_proto::amount::parse_atomic;
use tollgate_proto::headers::SETTLEMENT_OVERRIDES;
use tollgate_proto::money::Money;
use tollgate_proto::{TokenAmount, U256};

use crate::pricing::PricedAsset;

/// Longest `Settlement-Overrides` or meter header value read.
const MAX_HEADER_BYTES: usize = 256;

/// Fraction digits a meter's unit count may have.
const UNIT_DECIMALS: u8 = 18;

/// The charge of one upto call, as its handler names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Atomic units of the asset paid in.
    Atomic(U256),
    /// Hundredths of a percent of the authorized maximum (`3750` is 37.5%), rounded down.
    Percent(U256),
    /// US dollars, converted at the asset's rate and discount and rounded up, as prices are.
    Usd(Money),
    /// Units of the route's meter, each at its `unit_price`.
    Units(TokenAmount),
}

impl Charge {
    /// Reads the `amount` of a `Settlement-Overrides` value: `"1500"` (atomic), `"37.5%"` (of
    /// the maximum, at most two fraction digits) or `"$0.0123"`.
    pub fn parse_override(value: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Overrides {
            amount: String,
        }
        if value.len() > MAX_HEADER_BYTES {
            return Err(format!("over {MAX_HEADER_BYTES} bytes"));
        }
        let o: Overrides = serde_json::from_str(value).map_err(|e| e.to_string())?;
        let a = o.amount.as_str();
        if let Some(percent) = a.strip_suffix('%') {
            let p = TokenAmount::parse_units(percent, 2).map_err(|e| format!("{a:?}: {e}"))?;
            Ok(Self::Percent(p.atomic))
        } else if let Some(dollars) = a.strip_prefix('$') {
            let usd = TokenAmount::parse_units(dollars, tollgate_proto::money::MONEY_DECIMALS)
                .map_err(|e| format!("{a:?}: {e}"))?;
            Ok(Self::Usd(Money::from_units(usd.atomic)))
        } else {
            parse_atomic(a)
                .map(Self::Atomic)
                .map_err(|e| format!("{a:?}: {e}"))
        }
    }

    /// The charge in atomic units of `asset`, before the cap.
    fn atomic(self, asset: &PricedAsset, max: U256, meter: Option<&Meter>) -> Result<U256, String> {
        let usd = match self {
            Self::Atomic(a) => return Ok(a),
            Self::Percent(hundredths) => {
                let scaled = max
                    .checked_mul(hundredths)
                    .ok_or("percent overflows 256 bits")?;
                return Ok(scaled / U256::from(10_000u32));
            }
            Self::Usd(usd) => usd,
            Self::Units(n) => {
                let m = meter.ok_or("units named but the route sets no unit_price")?;
                m.unit_price.times(n).map_err(|e| e.to_string())?
            }
        };
        asset
            .amount_for(usd)
            .map(|t| t.atomic)
            .map_err(|e| e.to_string())
    }
}

/// A route's meter: the response header that counts units, and the USD price of one.
#[derive(Debug, Clone)]
pub struct Meter {
    pub header: HeaderName,
    pub unit_price: Money,
}

/// How an upto route learns each call's charge.
#[derive(Debug, Clone, Default)]
pub struct Upto {
    /// Counts units from a response header when the handler names no charge itself.
    pub meter: Option<Meter>,
}

impl Upto {
    /// The atomic charge of an answer paid in `asset` with `max` authorized, at most `max`;
    /// takes the charge out of the answer so the payer sees neither the extension nor the
    /// `Settlement-Overrides` header (a meter's header stays: it is the upstream's own).
    pub(crate) fn charge(
        &self,
        route: &str,
        asset: &PricedAsset,
        max: U256,
        parts: &mut Parts,
    ) -> U256 {
        let named = self.named(parts);
        let atomic = named.and_then(|c| match c {
            Some(c) => c.atomic(asset, max, self.meter.as_ref()),
            None => Ok(max),
        });
        match atomic {
            Ok(a) if a > max => {
                tracing::warn!(route, charge = %a, max = %max, asset = %asset.symbol,
                    "upto charge above the authorized maximum; the maximum is charged");
                max
            }
            Ok(a) => a,
            Err(why) => {
                tracing::error!(route, why, asset = %asset.symbol,
                    "upto charge unreadable; the maximum is charged");
                max
            }
        }
    }

    /// The charge the answer names: the extension first, then `Settlement-Overrides`, then the
    /// meter; `None` when it names none (and the route has no meter).
    fn named(&self, parts: &mut Parts) -> Result<Option<Charge>, String> {
        let ext = parts.extensions.remove::<Charge>();
        let overrides = take_one(parts, &HeaderName::from_static(SETTLEMENT_OVERRIDES));
        if let Some(c) = ext {
            return Ok(Some(c));
        }
        if let Some(v) = overrides? {
            return Charge::parse_override(&v)
                .map(Some)
                .map_err(|e| format!("{SETTLEMENT_OVERRIDES}: {e}"));
        }
        let Some(m) = &self.meter else {
            return Ok(None);
        };
        let units = read_one(parts, &m.header)?
            .ok_or_else(|| format!("meter header {} missing", m.header))?;
        TokenAmount::parse_units(units.trim(), UNIT_DECIMALS)
            .map(|n| Some(Charge::Units(n)))
            .map_err(|e| format!("meter header {}: {e}", m.header))
    }
}

/// Removes every `name` header and gives its one value; two values, a value that is not text,
/// or one over the size cap cannot be read.
fn take_one(parts: &mut Parts, name: &HeaderName) -> Result<Option<String>, String> {
    let one = read_one(parts, name);
    parts.headers.remove(name);
    one
}

/// The one value of header `name`, if it is there.
fn read_one(parts: &Parts, name: &HeaderName) -> Result<Option<String>, String> {
    let mut values = parts.headers.get_all(name).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("{name} sent more than once"));
    }
    if v.len() > MAX_HEADER_BYTES {
        return Err(format!("{name} over {MAX_HEADER_BYTES} bytes"));
    }
    v.to_str()
        .map(|s| Some(s.to_string()))
        .map_err(|_| format!("{name} is not text"))
}

#[cfg(test)]
mod tests;
