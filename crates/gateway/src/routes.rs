//! The compiled route table: each priced route with its exact requirements per asset, built once
//! from configuration and the facilitator's supported kinds.

use std::collections::HashSet;

use tollgate_proto::Networks;
use tollgate_proto::money::Money;
use tollgate_proto::v1::PaymentRequirementsV1;
use tollgate_proto::v2::{PaymentRequirements, SupportedResponse};

use crate::config::{BundleConfig, ConfigError, GatewayConfig};
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
    /// The symbol of each `accepts` entry.
    pub symbols: Vec<String>,
    pub bundle: Option<Bundle>,
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
    let payable: HashSet<(String, String)> = supported
        .kinds
        .iter()
        .filter(|k| k.x402_version == 2)
        .map(|k| (k.scheme.clone(), k.network.clone()))
        .collect();
    let mut assets = Vec::new();
    for a in &cfg.assets {
        let mut p = PricedAsset::from_config(a)?;
        if payable.contains(&(p.scheme.clone(), p.network.caip2().to_string())) {
            adopt_fee_payer(&mut p, supported);
            assets.push(p);
        } else {
            tracing::warn!(asset = %p.symbol, network = %p.network, "facilitator does not support this kind; not offered");
        }
    }
    let names: HashSet<&str> = cfg.routes.iter().map(|r| r.name.as_str()).collect();
    if names.len() != cfg.routes.len() {
        return Err(ConfigError::Invalid("route names must be unique".into()));
    }
    let mut routes = Vec::new();
    for r in &cfg.routes {
        let bad = |w: String| ConfigError::Invalid(format!("route {}: {w}", r.name));
        let price = Money::parse(&r.price).map_err(|e| bad(format!("price: {e}")))?;
        let mut accepts = Vec::new();
        let mut symbols = Vec::new();
        for a in &assets {
            let pay_to = cfg
                .pay_to
                .get(a.network.caip2())
                .ok_or_else(|| bad(format!("no pay_to for {}", a.network)))?;
            accepts.push(a.requirement(price, pay_to, cfg.max_timeout_seconds)?);
            symbols.push(a.symbol.clone());
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
            symbols,
            bundle,
            timeout: r.timeout_seconds.map(std::time::Duration::from_secs),
        });
    }
    Ok(routes)
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
