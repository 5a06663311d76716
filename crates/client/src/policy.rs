//! SpendPolicy: per-call caps, total budgets, and allow-lists, in each asset's own atomic units.
//! Every offer is judged here before anything is signed; a refusal names the limit it hit.

use std::collections::HashMap;
use std::fmt;

use tollgate_proto::{TokenAmount, U256};

use crate::challenge::Offer;

/// An asset on a network: `(CAIP-2 id, lower-case token address or mint)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetKey {
    pub network: String,
    pub asset: String,
}

impl AssetKey {
    /// Normalises the address so `0xAbC` and `0xabc` are one asset.
    pub fn new(network: &str, asset: &str) -> Self {
        let asset = if asset.starts_with("0x") {
            asset.to_ascii_lowercase()
        } else {
            asset.to_string()
        };
        Self {
            network: network.to_string(),
            asset,
        }
    }
}

impl fmt::Display for AssetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.asset)
    }
}

/// What the client knows about an asset, so humans can write `"200 TMAI"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetInfo {
    pub symbol: String,
    pub key: AssetKey,
    pub decimals: u8,
}

/// The assets a client can name by symbol.
#[derive(Debug, Clone, Default)]
pub struct AssetBook {
    assets: Vec<AssetInfo>,
}

impl AssetBook {
    /// Adds an asset.
    pub fn add(&mut self, symbol: &str, network: &str, address: &str, decimals: u8) {
        self.assets.push(AssetInfo {
            symbol: symbol.to_string(),
            key: AssetKey::new(network, address),
            decimals,
        });
    }

    /// Looks an asset up by key.
    pub fn get(&self, key: &AssetKey) -> Option<&AssetInfo> {
        self.assets.iter().find(|a| &a.key == key)
    }

    /// Parses `"<amount> <SYMBOL>"` exactly, e.g. `"200 TMAI"` -> 200·10^18 atomic units.
    /// A symbol known on several networks (USDC on Base and on Solana) yields one limit each.
    pub fn parse_limit(&self, s: &str) -> Result<Vec<(AssetKey, U256)>, PolicyError> {
        let mut parts = s.split_whitespace();
        let (Some(amount), Some(symbol), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(PolicyError::BadLimit(format!(
                "{s:?}: expected `<amount> <SYMBOL>`, e.g. `0.05 USDC`"
            )));
        };
        let matches: Vec<_> = self
            .assets
            .iter()
            .filter(|a| a.symbol.eq_ignore_ascii_case(symbol))
            .collect();
        if matches.is_empty() {
            return Err(PolicyError::BadLimit(format!(
                "{s:?}: unknown asset {symbol}"
            )));
        }
        matches
            .into_iter()
            .map(|a| {
                TokenAmount::parse_units(amount, a.decimals)
                    .map(|t| (a.key.clone(), t.atomic))
                    .map_err(|e| PolicyError::BadLimit(format!("{s:?}: {e}")))
            })
            .collect()
    }

    fn show(&self, key: &AssetKey, atomic: U256) -> String {
        match self.get(key) {
            Some(a) => format!(
                "{} {}",
                TokenAmount::from_atomic(atomic, a.decimals),
                a.symbol
            ),
            None => format!("{atomic} atomic units of {key}"),
        }
    }
}

/// Why an offer was refused; each names the limit it would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("price {asked} is over the per-call cap of {cap}")]
    OverPerCall { asked: String, cap: String },
    #[error("price {asked} would exceed the budget of {budget} ({spent} already spent)")]
    OverBudget {
        asked: String,
        budget: String,
        spent: String,
    },
    #[error("no spend limit is set for {0}; refusing to pay in an asset without a cap")]
    NoLimit(String),
    #[error("network {0} is not in the allowed networks")]
    NetworkNotAllowed(String),
    #[error("asset {0} is not in the allowed assets")]
    AssetNotAllowed(String),
    #[error("recipient {0} is not in the allowed recipients")]
    RecipientNotAllowed(String),
    #[error("scheme {0:?} is not one this client pays")]
    Scheme(String),
    #[error("bad limit {0}")]
    BadLimit(String),
    #[error("no acceptable offer: {}", .0.join("; "))]
    NoAcceptableOffer(Vec<String>),
}

/// Default longest validity a signed payment is given, whatever the server asks.
pub const DEFAULT_MAX_TIMEOUT_SECS: u64 = 300;

/// The limits an agent pays within.
#[derive(Debug, Clone)]
pub struct SpendPolicy {
    /// Largest single payment per asset. An asset without a cap is never paid.
    pub per_call: HashMap<AssetKey, U256>,
    /// Total spend per asset across calls (and processes, when spending is file-backed).
    pub budget: HashMap<AssetKey, U256>,
    /// When set, only these CAIP-2 networks.
    pub networks: Option<Vec<String>>,
    /// When set, only these assets.
    pub assets: Option<Vec<AssetKey>>,
    /// When set, only these recipients (compared case-insensitively).
    pub recipients: Option<Vec<String>>,
    /// Assets tried first, in order; the rest follow in the server's order.
    pub prefer: Vec<AssetKey>,
    /// Names assets in errors and limits.
    pub book: AssetBook,
    /// Cap on a server's `maxTimeoutSeconds`: a signed payment stays usable (and reserved) at
    /// most this long, so a server cannot hold a live authorization for years.
    pub max_timeout_secs: u64,
}

impl Default for SpendPolicy {
    fn default() -> Self {
        Self {
            per_call: HashMap::new(),
            budget: HashMap::new(),
            networks: None,
            assets: None,
            recipients: None,
            prefer: Vec::new(),
            book: AssetBook::default(),
            max_timeout_secs: DEFAULT_MAX_TIMEOUT_SECS,
        }
    }
}

impl SpendPolicy {
    /// A policy over `book` that pays each asset named in `caps` (e.g. "0.1 USDC") at most
    /// that much a call, and within `budgets` in total; every other limit at its default.
    pub fn capped<S: AsRef<str>>(
        book: AssetBook,
        caps: &[S],
        budgets: &[S],
    ) -> Result<Self, PolicyError> {
        let mut p = Self {
            book,
            ..Default::default()
        };
        for cap in caps {
            p.per_call.extend(p.book.parse_limit(cap.as_ref())?);
        }
        for budget in budgets {
            p.budget.extend(p.book.parse_limit(budget.as_ref())?);
        }
        Ok(p)
    }

    /// Judges one offer, given what was already spent in its asset.
    pub fn check(&self, offer: &Offer, spent: U256) -> Result<AssetKey, PolicyError> {
        let r = &offer.requirements;
        let key = AssetKey::new(offer.network.caip2(), &r.asset);
        // `upto` is Permit2 on EVM; its amount is the maximum, held against caps and budgets.
        let evm = matches!(
            offer.network.family(),
            tollgate_proto::NetworkFamily::Evm(_)
        );
        if r.scheme != "exact" && !(r.scheme == "upto" && evm) {
            return Err(PolicyError::Scheme(r.scheme.clone()));
        }
        if self
            .networks
            .as_ref()
            .is_some_and(|n| !n.iter().any(|n| n == offer.network.caip2()))
        {
            return Err(PolicyError::NetworkNotAllowed(
                offer.network.caip2().to_string(),
            ));
        }
        if self.assets.as_ref().is_some_and(|a| !a.contains(&key)) {
            return Err(PolicyError::AssetNotAllowed(key.to_string()));
        }
        if self
            .recipients
            .as_ref()
            .is_some_and(|rs| !rs.iter().any(|x| x.eq_ignore_ascii_case(&r.pay_to)))
        {
            return Err(PolicyError::RecipientNotAllowed(r.pay_to.clone()));
        }
        let cap = *self
            .per_call
            .get(&key)
            .ok_or_else(|| PolicyError::NoLimit(key.to_string()))?;
        if offer.amount > cap {
            return Err(PolicyError::OverPerCall {
                asked: self.book.show(&key, offer.amount),
                cap: self.book.show(&key, cap),
            });
        }
        if let Some(budget) = self.budget.get(&key)
            && spent
                .checked_add(offer.amount)
                .is_none_or(|total| total > *budget)
        {
            return Err(PolicyError::OverBudget {
                asked: self.book.show(&key, offer.amount),
                budget: self.book.show(&key, *budget),
                spent: self.book.show(&key, spent),
            });
        }
        Ok(key)
    }

    /// Offers in the order they should be tried: preferred assets first, then the server's order.
    pub fn ordered<'a>(&self, offers: &'a [Offer]) -> Vec<&'a Offer> {
        let rank = |o: &Offer| {
            let key = AssetKey::new(o.network.caip2(), &o.requirements.asset);
            self.prefer
                .iter()
                .position(|p| *p == key)
                .unwrap_or(usize::MAX)
        };
        let mut v: Vec<&Offer> = offers.iter().collect();
        v.sort_by_key(|o| rank(o));
        v
    }

    /// Describes an amount in its asset's own terms (`"0.017 USDC"`).
    pub fn describe(&self, key: &AssetKey, atomic: U256) -> String {
        self.book.show(key, atomic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_proto::Network;
    use tollgate_proto::v2::PaymentRequirements;

    const TMAI: &str = "0x00000000000000000000000000000000000000aa";

    fn book() -> AssetBook {
        let mut b = AssetBook::default();
        b.add(
            "USDC",
            "eip155:8453",
            "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            6,
        );
        b.add("TMAI", "eip155:8453", TMAI, 18);
        b
    }

    fn offer(asset: &str, amount: U256) -> Offer {
        Offer {
            version: 2,
            requirements: PaymentRequirements {
                scheme: "exact".into(),
                network: "eip155:8453".into(),
                amount: amount.to_string(),
                asset: asset.into(),
                pay_to: "0xpayee".into(),
                max_timeout_seconds: 60,
                extra: None,
            },
            network: Network::evm(8453),
            amount,
            resource: None,
            extensions: None,
        }
    }

    #[test]
    fn limits_parse_exactly_in_each_assets_units() {
        let b = book();
        let (_, tmai) = b.parse_limit("200 TMAI").unwrap()[0].clone();
        assert_eq!(
            tmai,
            U256::from(200u64) * U256::from(10u64).pow(U256::from(18u64))
        );
        assert!(tmai > U256::from(u64::MAX));
        assert_eq!(
            b.parse_limit("0.05 USDC").unwrap()[0].1,
            U256::from(50_000u64)
        );
        assert!(
            b.parse_limit("0.0000001 USDC").is_err(),
            "more digits than the asset has"
        );
        assert!(b.parse_limit("5 DOGE").is_err());
        assert!(b.parse_limit("5").is_err());
    }

    #[test]
    fn refusals_name_the_limit() {
        let b = book();
        let mut p = SpendPolicy {
            book: b.clone(),
            ..Default::default()
        };
        let usdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
        let o = offer(usdc, U256::from(68_000u64));
        assert!(matches!(
            p.check(&o, U256::ZERO),
            Err(PolicyError::NoLimit(_))
        ));
        for (k, v) in b.parse_limit("0.05 USDC").unwrap() {
            p.per_call.insert(k, v);
        }
        let err = p.check(&o, U256::ZERO).unwrap_err();
        assert_eq!(
            err.to_string(),
            "price 0.068 USDC is over the per-call cap of 0.05 USDC"
        );
        for (k, v) in b.parse_limit("0.1 USDC").unwrap() {
            p.per_call.insert(k.clone(), v);
            p.budget.insert(k, v);
        }
        assert!(p.check(&o, U256::from(32_000u64)).is_ok());
        let err = p.check(&o, U256::from(32_001u64)).unwrap_err();
        assert!(err.to_string().contains("budget of 0.1 USDC"), "{err}");
        p.recipients = Some(vec!["0xsomeoneelse".into()]);
        assert!(matches!(
            p.check(&o, U256::ZERO),
            Err(PolicyError::RecipientNotAllowed(_))
        ));
    }

    #[test]
    fn huge_amounts_do_not_overflow() {
        let p = SpendPolicy::capped(book(), &["200 TMAI"], &["200 TMAI"]).unwrap();
        let o = offer(TMAI, U256::from(10u64).pow(U256::from(20u64)));
        assert!(
            p.check(&o, U256::from(10u64).pow(U256::from(20u64)))
                .is_ok()
        );
        assert!(
            p.check(&o, U256::MAX).is_err(),
            "spent + price overflowing U256 is refused, not wrapped"
        );
    }
}
