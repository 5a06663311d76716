//! Pricing: a route's USD price becomes one exact atomic amount per accepted asset, through the
//! asset's configured USD rate and discount, rounded up so the seller is never short.

use tollgate_proto::money::{Discount, Money, atomic_for_price};
use tollgate_proto::v2::{Object, PaymentRequirements};
use tollgate_proto::{Network, TokenAmount};

use crate::config::{AssetConfig, ConfigError};

/// An accepted asset with its exact rate and discount.
#[derive(Debug, Clone)]
pub struct PricedAsset {
    /// Client-facing symbol (`USDC`, `TMAI`).
    pub symbol: String,
    /// Where the asset lives.
    pub network: Network,
    /// Contract address or mint, as written on the wire.
    pub address: String,
    /// Decimals of one whole token.
    pub decimals: u8,
    /// USD per whole token.
    pub usd_rate: Money,
    /// Cut off the USD price for paying in this asset.
    pub discount: Discount,
    /// x402 scheme name.
    pub scheme: String,
    /// Scheme `extra` for requirements.
    pub extra: Option<Object>,
}

impl PricedAsset {
    /// Validates one `[[assets]]` entry: network id, rate, discount and symbol.
    pub fn from_config(c: &AssetConfig) -> Result<Self, ConfigError> {
        let bad = |what: &str| ConfigError::Invalid(format!("asset {}: {what}", c.symbol));
        if c.symbol.is_empty()
            || c.symbol.len() > 16
            || !c.symbol.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(bad("symbol must be 1-16 ASCII letters or digits"));
        }
        let network = Network::from_caip2(&c.network)
            .ok_or_else(|| bad(&format!("network {:?} is not a CAIP-2 id", c.network)))?;
        let usd_rate = Money::parse(&c.usd_rate).map_err(|e| bad(&format!("usd_rate: {e}")))?;
        if usd_rate.is_zero() {
            return Err(bad("usd_rate must be above zero"));
        }
        let discount = match &c.discount_percent {
            Some(d) => Discount::parse_percent(d).map_err(|e| bad(&format!("discount: {e}")))?,
            None => Discount::NONE,
        };
        if c.decimals > 36 {
            return Err(bad("decimals above 36"));
        }
        Ok(Self {
            symbol: c.symbol.clone(),
            network,
            address: c.address.clone(),
            decimals: c.decimals,
            usd_rate,
            discount,
            scheme: c.scheme.clone().unwrap_or_else(|| "exact".into()),
            extra: c.extra.clone(),
        })
    }

    /// The exact atomic amount this asset charges for `price`.
    pub fn amount_for(&self, price: Money) -> Result<TokenAmount, ConfigError> {
        atomic_for_price(price, self.usd_rate, self.discount, self.decimals)
            .map_err(|e| ConfigError::Invalid(format!("pricing {} in {}: {e}", price, self.symbol)))
    }

    /// The v2 requirement for paying `price` in this asset to `pay_to`.
    pub fn requirement(
        &self,
        price: Money,
        pay_to: &str,
        max_timeout_seconds: u64,
    ) -> Result<PaymentRequirements, ConfigError> {
        Ok(PaymentRequirements {
            scheme: self.scheme.clone(),
            network: self.network.caip2().to_string(),
            amount: self.amount_for(price)?.atomic.to_string(),
            asset: self.address.clone(),
            pay_to: pay_to.to_string(),
            max_timeout_seconds,
            extra: self.extra.clone(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tollgate_proto::U256;

    /// A valid asset on Base for unit tests.
    pub(crate) fn asset(
        symbol: &str,
        decimals: u8,
        rate: &str,
        discount: Option<&str>,
    ) -> PricedAsset {
        PricedAsset::from_config(&AssetConfig {
            symbol: symbol.into(),
            network: "eip155:8453".into(),
            address: "0x0000000000000000000000000000000000000001".into(),
            decimals,
            usd_rate: rate.into(),
            discount_percent: discount.map(str::to_string),
            scheme: None,
            extra: None,
        })
        .unwrap()
    }

    #[test]
    fn route_prices_become_exact_amounts() {
        let usdc = asset("USDC", 6, "1", None);
        let tmai = asset("TMAI", 18, "0.02", Some("10"));
        let p = Money::parse("0.017").unwrap();
        assert_eq!(usdc.amount_for(p).unwrap().atomic, U256::from(17_000u64));
        // 0.017 * 0.9 / 0.02 = 0.765 TMAI.
        assert_eq!(tmai.amount_for(p).unwrap().to_string(), "0.765");
        let r = tmai.requirement(p, "0xpay", 60).unwrap();
        assert_eq!(r.amount, "765000000000000000");
    }

    #[test]
    fn bad_assets_are_refused_with_the_key() {
        let mut c = AssetConfig {
            symbol: "TMAI".into(),
            network: "base".into(),
            address: "0x1".into(),
            decimals: 18,
            usd_rate: "0.02".into(),
            discount_percent: None,
            scheme: None,
            extra: None,
        };
        let e = PricedAsset::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("network"), "{e}");
        c.network = "eip155:8453".into();
        c.usd_rate = "0".into();
        let e = PricedAsset::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("usd_rate"), "{e}");
        c.usd_rate = "0.02".into();
        c.discount_percent = Some("100".into());
        let e = PricedAsset::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("discount"), "{e}");
    }
}
