//! A chain's configured settlement keys turned into signers, for the first start and for each
//! reload alike.

use alloy::signers::local::PrivateKeySigner;

use super::EvmChainConfig;

/// The chain's settlement keys as signers; an error names the key's origin, never its text.
pub fn signers_of(
    c: &EvmChainConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<PrivateKeySigner>> {
    c.keys(env)?
        .iter()
        .map(|k| {
            k.secret().parse().map_err(|_| {
                anyhow::anyhow!(
                    "settlement key ({}) for {} is not a valid secp256k1 key",
                    k.origin,
                    c.network
                )
            })
        })
        .collect()
}
