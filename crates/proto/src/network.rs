//! Networks: CAIP-2 ids, the v1 names that map to them, and which chain family each belongs to.

use std::collections::HashMap;
use std::fmt;

/// Which kind of chain a network is, with the id its signatures bind to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetworkFamily {
    /// `eip155:<chain id>`.
    Evm(u64),
    /// `solana:<genesis hash prefix>`.
    Solana(String),
}

/// A network in its canonical CAIP-2 form, e.g. `eip155:8453`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Network {
    caip2: String,
    family: NetworkFamily,
}

impl Network {
    /// Parses a CAIP-2 id of a supported family (`eip155:N`, `solana:REF`).
    pub fn from_caip2(s: &str) -> Option<Self> {
        let (ns, reference) = s.split_once(':')?;
        let ref_ok = !reference.is_empty()
            && reference.len() <= 64
            && reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ref_ok {
            return None;
        }
        let family = match ns {
            "eip155" => {
                if reference.starts_with('0') {
                    return None;
                }
                NetworkFamily::Evm(reference.parse().ok()?)
            }
            "solana" => NetworkFamily::Solana(reference.to_string()),
            _ => return None,
        };
        Some(Self {
            caip2: s.to_string(),
            family,
        })
    }

    /// An EVM network by chain id.
    pub fn evm(chain_id: u64) -> Self {
        Self {
            caip2: format!("eip155:{chain_id}"),
            family: NetworkFamily::Evm(chain_id),
        }
    }

    /// The canonical CAIP-2 id.
    pub fn caip2(&self) -> &str {
        &self.caip2
    }

    /// The chain family and id.
    pub fn family(&self) -> &NetworkFamily {
        &self.family
    }

    /// The EVM chain id, when this is an EVM network.
    pub fn chain_id(&self) -> Option<u64> {
        match self.family {
            NetworkFamily::Evm(id) => Some(id),
            NetworkFamily::Solana(_) => None,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.caip2)
    }
}

/// The v1 names every x402 SDK knows, with their CAIP-2 ids.
const KNOWN_V1_NAMES: &[(&str, &str)] = &[
    ("base", "eip155:8453"),
    ("base-sepolia", "eip155:84532"),
    ("avalanche", "eip155:43114"),
    ("avalanche-fuji", "eip155:43113"),
    ("polygon", "eip155:137"),
    ("solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"),
    ("solana-devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"),
    ("solana-testnet", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"),
];

/// Maps v1 network names to CAIP-2 and back; extra names (e.g. a local anvil) come from config.
#[derive(Debug, Clone)]
pub struct Networks {
    by_name: HashMap<String, Network>,
    by_caip2: HashMap<String, String>,
}

impl Default for Networks {
    fn default() -> Self {
        let mut n = Self {
            by_name: HashMap::new(),
            by_caip2: HashMap::new(),
        };
        for (name, caip2) in KNOWN_V1_NAMES {
            n.add_name(
                name,
                Network::from_caip2(caip2).expect("built-in ids are valid"),
            );
        }
        n
    }
}

impl Networks {
    /// Adds or replaces a v1 name for a network.
    pub fn add_name(&mut self, name: &str, network: Network) {
        self.by_caip2
            .insert(network.caip2.clone(), name.to_string());
        self.by_name.insert(name.to_string(), network);
    }

    /// Resolves a v1 `network` field: a known name, or a CAIP-2 id given directly.
    pub fn resolve_v1(&self, name: &str) -> Option<Network> {
        self.by_name
            .get(name)
            .cloned()
            .or_else(|| Network::from_caip2(name))
    }

    /// The v1 name of a network, falling back to its CAIP-2 id when it has none.
    pub fn v1_name<'a>(&'a self, network: &'a Network) -> &'a str {
        self.by_caip2
            .get(network.caip2())
            .map(String::as_str)
            .unwrap_or(network.caip2())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        let n = Networks::default();
        let base = n.resolve_v1("base").unwrap();
        assert_eq!(base.caip2(), "eip155:8453");
        assert_eq!(base.chain_id(), Some(8453));
        assert_eq!(n.v1_name(&base), "base");
        let sol = n.resolve_v1("solana-devnet").unwrap();
        assert!(
            matches!(sol.family(), NetworkFamily::Solana(r) if r == "EtWTRABZaYq6iMfeYKouRu166VU2xqa1")
        );
        let anvil = Network::evm(31337);
        assert_eq!(n.v1_name(&anvil), "eip155:31337");
        assert_eq!(n.resolve_v1("eip155:31337"), Some(anvil));
    }

    #[test]
    fn refuses_malformed_ids() {
        for bad in [
            "",
            "base-mainnet",
            "eip155:",
            "eip155:abc",
            "eip155:0x1",
            "eip155:01",
            "cosmos:hub",
            "eip155:1 ",
        ] {
            assert!(Network::from_caip2(bad).is_none(), "{bad:?}");
        }
    }
}
