//! The compiled route table: each priced route with its exact requirements per asset, built once
//! from configuration and the facilitator's supported kinds.

use std::collections::HashSet;

use tollgate_proto::Networks;
use tollgate_proto::money::Money;
use tollgate_proto::v1::PaymentRequirementsV1;
use tollgate_proto::v2::{PaymentRequirements, SupportedResponse};

use axum::http::HeaderName;

use crate::charge::{Meter, Upto};
use crate::config::{BundleConfig, ConfigError, GatewayConfig, RouteConfig, RouteScheme};
use crate::pattern::RoutePattern;
use crate::pricing::PricedAsset;

/// A metered bundle as sold by one route.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Calls included (the paying call among them); `None` = unlimited within `seconds`.
    pub calls: Option<u64>,
    /// Lifetime of the receipt in seconds.
    pub seconds: u64,
    /// Route names the receipt unlocks.
    pub covers: Vec<String>,
    /// Also put the receipt into JSON object bodies.
    pub receipt_in_body: bool,
}

/// One priced route, ready to challenge and to match payments against.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub pattern: RoutePattern,
    pub price: Money,
    pub description: String,
    pub mime_type: String,
    /// One entry per payable asset, in configuration order.
    pub accepts: Vec<PaymentRequirements>,
    /// The asset of each `accepts` entry.
    pub assets: Vec<PricedAsset>,
    pub bundle: Option<Bundle>,
    /// How each call's charge is read, on an upto route (`price` is then the maximum).
    pub upto: Option<Upto>,
    /// How long the proxy waits on the upstream for this route, when it says.
    pub timeout: Option<std::time::Duration>,
}

impl Route {
    /// The v1 form of `accepts` for a resource URL.
    pub fn accepts_v1(&self, resource: &str, networks: &Networks) -> Vec<PaymentRequirementsV1> {
        self.accepts
            .iter()
            .map(|r| PaymentRequirementsV1 {
                scheme: r.scheme.clone(),
                network: tollgate_proto::Network::from_caip2(&r.network)
                    .map(|n| networks.v1_name(&n).to_string())
                    .unwrap_or_else(|| r.network.clone()),
                max_amount_required: r.amount.clone(),
                resource: resource.to_string(),
                description: self.description.clone(),
                mime_type: self.mime_type.clone(),
                output_schema: None,
                pay_to: r.pay_to.clone(),
                max_timeout_seconds: r.max_timeout_seconds,
                asset: r.asset.clone(),
                extra: r.extra.clone(),
            })
            .collect()
    }
}

/// Compiles routes; assets whose (scheme, network) the facilitator does not support are left
/// out of `accepts` (e.g. Solana before its settlement exists) so no one pays into a dead end.
pub fn compile(
    cfg: &GatewayConfig,
    supported: &SupportedResponse,
    default_receipt_ttl: u64,
) -> Result<Vec<Route>, ConfigError> {
    let configured = cfg
        .assets
        .iter()
        .map(PricedAsset::from_config)
        .collect::<Result<Vec<_>, _>>()?;
    let exact = payable(&configured, supported, None);
    let upto = if cfg.routes.iter().any(|r| r.scheme == RouteScheme::Upto) {
        payable(&configured, supported, Some("upto"))
    } else {
        Vec::new()
    };
    let names: HashSet<&str> = cfg.routes.iter().map(|r| r.name.as_str()).collect();
    if names.len() != cfg.routes.len() {
        return Err(ConfigError::Invalid("route names must be unique".into()));
    }
    let mut routes = Vec::new();
    for r in &cfg.routes {
        let bad = |w: String| ConfigError::Invalid(format!("route {}: {w}", r.name));
        let price = Money::parse(&r.price).map_err(|e| bad(format!("price: {e}")))?;
        let assets = match r.scheme {
            RouteScheme::Exact => &exact,
            RouteScheme::Upto => &upto,
        };
        let mut accepts = Vec::new();
        for a in assets {
            let pay_to = cfg
                .pay_to
                .get(a.network.caip2())
                .ok_or_else(|| bad(format!("no pay_to for {}", a.network)))?;
            accepts.push(a.requirement(price, pay_to, cfg.max_timeout_seconds)?);
        }
        let bundle = r
            .bundle
            .as_ref()
            .map(|b| bundle(b, &r.name, &names, default_receipt_ttl))
            .transpose()
            .map_err(bad)?;
        routes.push(Route {
            name: r.name.clone(),
            pattern: RoutePattern::parse_with(&r.method, &r.path, r.exact)?,
            price,
            description: r.description.clone().unwrap_or_default(),
            mime_type: r
                .mime_type
                .clone()
                .unwrap_or_else(|| "application/json".into()),
            accepts,
            assets: assets.clone(),
            bundle,
            upto: upto_terms(r).map_err(bad)?,
            timeout: r.timeout_seconds.map(std::time::Duration::from_secs),
        });
    }
    Ok(routes)
}

/// The configured assets the facilitator settles, each in its own scheme, or in `scheme` when
/// given (upto routes offer every asset whose network the facilitator settles upto on).
fn payable(
    configured: &[PricedAsset],
    supported: &SupportedResponse,
    scheme: Option<&str>,
) -> Vec<PricedAsset> {
    let mut out = Vec::new();
    for a in configured {
        let mut p = a.clone();
        if let Some(s) = scheme {
            // upto is defined over Permit2 alone: EVM assets only.
            if p.network.chain_id().is_none() {
                continue;
            }
            p.scheme = s.to_string();
        }
        let Some(kind) = supported.kinds.iter().find(|k| {
            k.x402_version == 2 && k.scheme == p.scheme && k.network == p.network.caip2()
        }) else {
            tracing::warn!(asset = %p.symbol, network = %p.network, scheme = %p.scheme, "facilitator does not support this kind; not offered");
            continue;
        };
        if p.scheme == "upto" {
            // The payer's Permit2 witness names the facilitator key that will settle.
            let Some(f) = kind
                .extra
                .as_ref()
                .and_then(|e| e.get("facilitatorAddress"))
            else {
                tracing::warn!(asset = %p.symbol, network = %p.network, "facilitator names no upto facilitatorAddress; upto not offered");
                continue;
            };
            let extra = p.extra.get_or_insert_with(Default::default);
            extra.insert("assetTransferMethod".into(), "permit2".into());
            extra.insert("facilitatorAddress".into(), f.clone());
        }
        adopt_fee_payer(&mut p, supported);
        out.push(p);
    }
    out
}

/// An upto route's terms; a meter and its unit price come together, on upto routes alone, and
/// an upto route sells no bundle (its charge is known only after the call).
fn upto_terms(r: &RouteConfig) -> Result<Option<Upto>, String> {
    let meter = match (&r.meter, &r.unit_price) {
        (None, None) => None,
        (Some(h), Some(p)) => Some(Meter {
            header: HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| format!("meter {h:?} is not a header name"))?,
            unit_price: Money::parse(p).map_err(|e| format!("unit_price: {e}"))?,
        }),
        _ => return Err("meter and unit_price are set together".into()),
    };
    match r.scheme {
        RouteScheme::Exact if meter.is_some() => Err("meter needs scheme = \"upto\"".into()),
        RouteScheme::Exact => Ok(None),
        RouteScheme::Upto if r.bundle.is_some() => {
            Err("scheme = \"upto\" sells single calls, not bundles".into())
        }
        RouteScheme::Upto => Ok(Some(Upto { meter })),
    }
}

/// Solana payments name the facilitator key that pays the fee (`extra.feePayer`); the gateway
/// learns it from `/supported` unless the asset's config sets one.
fn adopt_fee_payer(asset: &mut PricedAsset, supported: &SupportedResponse) {
    let fee_payer = supported
        .kinds
        .iter()
        .filter(|k| k.x402_version == 2 && k.scheme == asset.scheme)
        .filter(|k| k.network == asset.network.caip2())
        .find_map(|k| k.extra.as_ref()?.get("feePayer").cloned());
    if let Some(fp) = fee_payer {
        asset
            .extra
            .get_or_insert_with(Default::default)
            .entry("feePayer")
            .or_insert(fp);
    }
}

fn bundle(b: &BundleConfig, own: &str, names: &HashSet<&str>, ttl: u64) -> Result<Bundle, String> {
    if b.calls.is_none() && b.seconds.is_none() {
        return Err("bundle needs calls or seconds".into());
    }
    if b.calls == Some(0) || b.seconds == Some(0) {
        return Err("bundle calls and seconds must be above zero".into());
    }
    let covers = if b.covers.is_empty() {
        vec![own.to_string()]
    } else {
        b.covers.clone()
    };
    if let Some(unknown) = covers.iter().find(|c| !names.contains(c.as_str())) {
        return Err(format!("bundle covers unknown route {unknown:?}"));
    }
    Ok(Bundle {
        calls: b.calls,
        seconds: b.seconds.unwrap_or(ttl),
        covers,
        receipt_in_body: b.receipt_in_body,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SETTLER: &str = "0x00000000000000000000000000000000000000Fa";

    fn cfg(routes: &str) -> GatewayConfig {
        GatewayConfig::parse(&format!(
            r#"
[pay_to]
"eip155:8453" = "0x00000000000000000000000000000000000000bb"
"solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1" = "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5"

[[assets]]
symbol = "USDC"
network = "eip155:8453"
address = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
decimals = 6
usd_rate = "1"
extra = {{ name = "USD Coin", version = "2" }}

[[assets]]
symbol = "USDC"
network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
address = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
decimals = 6
usd_rate = "1"
{routes}"#
        ))
        .unwrap()
    }

    fn supported(upto_extra: serde_json::Value) -> SupportedResponse {
        serde_json::from_value(json!({"kinds": [
            {"x402Version": 2, "scheme": "exact", "network": "eip155:8453"},
            {"x402Version": 2, "scheme": "exact", "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"},
            {"x402Version": 2, "scheme": "upto", "network": "eip155:8453", "extra": upto_extra}],
            "extensions": [], "signers": {}}))
        .unwrap()
    }

    const UPTO: &str = r#"
[[routes]]
name = "search"
path = "/search"
price = "0.048"
scheme = "upto"
meter = "x-result-rows"
unit_price = "0.002"
"#;

    #[test]
    fn an_upto_route_offers_its_maximum_over_permit2_pinned_to_the_settler() {
        let routes = compile(
            &cfg(UPTO),
            &supported(json!({"facilitatorAddress": SETTLER})),
            60,
        );
        let r = &routes.unwrap()[0];
        assert_eq!(r.accepts.len(), 1, "EVM only: {:?}", r.accepts);
        let a = &r.accepts[0];
        assert_eq!((a.scheme.as_str(), a.amount.as_str()), ("upto", "48000"));
        let extra = json!(a.extra);
        assert_eq!(extra["assetTransferMethod"], json!("permit2"));
        assert_eq!(extra["facilitatorAddress"], json!(SETTLER));
        assert_eq!(
            extra["name"],
            json!("USD Coin"),
            "the asset's own extra stays"
        );
        let meter = r.upto.as_ref().unwrap().meter.as_ref().unwrap();
        assert_eq!(meter.header.as_str(), "x-result-rows");
    }

    #[test]
    fn no_settler_named_means_no_upto_offer() {
        let routes = compile(&cfg(UPTO), &supported(json!({})), 60).unwrap();
        assert!(routes[0].accepts.is_empty());
    }

    #[test]
    fn upto_terms_that_cannot_work_are_refused_at_start() {
        let s = supported(json!({"facilitatorAddress": SETTLER}));
        for (routes, why) in [
            (UPTO.replace("unit_price = \"0.002\"\n", ""), "together"),
            (UPTO.replace("scheme = \"upto\"\n", ""), "needs scheme"),
            (
                UPTO.replace("x-result-rows", "bad header"),
                "not a header name",
            ),
            (UPTO.replace("0.002", "cheap"), "unit_price"),
            (format!("{UPTO}bundle = {{ calls = 3 }}\n"), "bundles"),
        ] {
            let e = compile(&cfg(&routes), &s, 60).unwrap_err().to_string();
            assert!(e.contains("route search") && e.contains(why), "{why}: {e}");
        }
        let e = GatewayConfig::parse(&format!(
            "pay_to = {{}}\nassets = []\n{}",
            UPTO.replace("\"upto\"", "\"later\"")
        ));
        assert!(e.is_err(), "an unknown scheme is a config error");
    }
}
