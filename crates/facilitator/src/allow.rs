//! What the facilitator pays gas for: an allowlist of assets (the well-known USDC of each network
//! it serves, plus those its operator names) and, optionally, of payTo addresses. A request for
//! anything else is refused before any RPC call, so nobody can make it sponsor arbitrary tokens.

use std::collections::{HashMap, HashSet};

use tollgate_proto::{Network, NetworkFamily, Rejection, RequirementsView, reason, usdc};

/// Assets and payees the facilitator settles for, per CAIP-2 network.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    any_asset: bool,
    assets: HashMap<String, HashSet<String>>,
    pay_to: HashMap<String, HashSet<String>>,
}

/// EVM addresses compare without case; Solana keys are case-sensitive base58.
fn key(network: &Network, address: &str) -> String {
    match network.family() {
        NetworkFamily::Evm(_) => address.to_ascii_lowercase(),
        NetworkFamily::Solana(_) => address.to_string(),
    }
}

impl Allowlist {
    /// The well-known USDC of each of `networks`, and nothing else until more are added.
    pub fn usdc_of<'a>(networks: impl IntoIterator<Item = &'a Network>) -> Self {
        let mut a = Self::default();
        for n in networks {
            if let Some(addr) = usdc::usdc_of(n) {
                a.allow_asset(n, addr);
            }
        }
        a
    }

    /// Any asset on any network: for test chains whose tokens live at arbitrary addresses.
    pub fn any_asset() -> Self {
        Self {
            any_asset: true,
            ..Self::default()
        }
    }

    /// Settles `asset` on `network` too.
    pub fn allow_asset(&mut self, network: &Network, asset: &str) {
        let set = self.assets.entry(network.caip2().to_string()).or_default();
        set.insert(key(network, asset));
    }

    /// Limits `network`'s payees to the listed ones (once any is listed for it).
    pub fn allow_pay_to(&mut self, network: &Network, pay_to: &str) {
        let set = self.pay_to.entry(network.caip2().to_string()).or_default();
        set.insert(key(network, pay_to));
    }

    /// Whether settling `r` may spend gas; the refusal names the asset or payee at fault.
    pub fn check(&self, r: &RequirementsView<'_>) -> Result<(), Rejection> {
        let net = &r.network;
        if !self.any_asset {
            let listed = self
                .assets
                .get(net.caip2())
                .is_some_and(|s| s.contains(&key(net, r.asset)));
            if !listed {
                return Err(
                    Rejection::new(reason::ASSET_NOT_ALLOWED).with_message(format!(
                        "asset {} on {net} is not settled by this facilitator",
                        r.asset
                    )),
                );
            }
        }
        if let Some(payees) = self.pay_to.get(net.caip2())
            && !payees.contains(&key(net, r.pay_to))
        {
            return Err(
                Rejection::new(reason::PAY_TO_NOT_ALLOWED).with_message(format!(
                    "payTo {} on {net} is not settled by this facilitator",
                    r.pay_to
                )),
            );
        }
        Ok(())
    }
}
