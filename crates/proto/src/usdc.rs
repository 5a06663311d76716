//! The USDC contract (or mint) of each public network: the assets a facilitator pays gas for
//! without being told, and the assets a client knows by symbol.

use crate::Network;

/// USDC's decimals on every network listed here.
pub const USDC_DECIMALS: u8 = 6;

/// `(CAIP-2 network, USDC address or mint)`, as Circle publishes them.
pub const WELL_KNOWN_USDC: &[(&str, &str)] = &[
    ("eip155:1", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
    ("eip155:8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
    ("eip155:84532", "0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
    ("eip155:43114", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E"),
    ("eip155:43113", "0x5425890298aed601595a70AB815c96711a31Bc65"),
    ("eip155:137", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"),
    ("eip155:42161", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"),
    (
        "eip155:421614",
        "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d",
    ),
    ("eip155:10", "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85"),
    (
        "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
    ),
    (
        "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
        "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
    ),
];

/// The USDC of `network`, when it is a public network with a well-known USDC.
pub fn usdc_of(network: &Network) -> Option<&'static str> {
    WELL_KNOWN_USDC
        .iter()
        .find(|(n, _)| *n == network.caip2())
        .map(|(_, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_names_a_valid_network() {
        for (n, a) in WELL_KNOWN_USDC {
            let net = Network::from_caip2(n).expect("valid CAIP-2");
            assert_eq!(usdc_of(&net), Some(*a));
        }
        assert_eq!(usdc_of(&Network::evm(31337)), None);
    }
}
