//! The payer's EVM key and the signing of one offer: EIP-3009 for tokens that have it (USDC),
//! Permit2 for plain ERC-20s (`extra.assetTransferMethod = "permit2"`). With an RPC URL the
//! wallet can also ask the chain whether a payment it signed was used (see `evm_check`).

use std::path::Path;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::RootProvider;
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use tollgate_evm::eip3009::token_domain;
use tollgate_evm::permit2::{EXACT_PERMIT2_PROXY, Permit2Authorization, sign_permit2};
use tollgate_evm::{Eip3009Authorization, sign_eip3009};

use crate::challenge::Offer;
use crate::outstanding::{Proof, Signed};

/// Seconds the authorization is valid before now, to absorb clock skew (the SDKs use 600).
const CLOCK_SKEW_SECS: u64 = 600;
/// Shortest validity given to a payment, so it survives the round trip to the server.
const MIN_TIMEOUT_SECS: u64 = 30;

/// Why a payment could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("key: {0}")]
    Key(String),
    #[error("offer: {0}")]
    Offer(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// An EVM payer key, and optionally the RPC of one chain to check its payments on; its Debug
/// output shows the address only (never the key or the RPC URL).
pub struct EvmWallet {
    signer: PrivateKeySigner,
    pub(crate) rpc: Option<RootProvider>,
}

impl std::fmt::Debug for EvmWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EvmWallet({})", self.signer.address())
    }
}

impl EvmWallet {
    /// A wallet from a hex private key (with or without 0x).
    pub fn from_hex(key: &str) -> Result<Self, WalletError> {
        let signer = key
            .trim()
            .parse()
            .map_err(|_| WalletError::Key("not a valid secp256k1 private key".into()))?;
        Ok(Self { signer, rpc: None })
    }

    /// The same wallet reading the chain at `rpc_url`, so a payment whose outcome is unknown
    /// can be proven unspent (and its reservation given back) once it expires unused.
    pub fn with_rpc(mut self, rpc_url: &str) -> Result<Self, WalletError> {
        let url = rpc_url
            .parse()
            .map_err(|_| WalletError::Key("EVM RPC URL is not a valid URL".into()))?;
        self.rpc = Some(RootProvider::new(RpcClient::new_http(url)));
        Ok(self)
    }

    /// A wallet from the key in env variable `var`.
    pub fn from_env(var: &str) -> Result<Self, WalletError> {
        let key = std::env::var(var).map_err(|_| WalletError::Key(format!("{var} is not set")))?;
        Self::from_hex(&key)
    }

    /// A wallet from a file holding one hex key.
    pub fn from_file(path: &Path) -> Result<Self, WalletError> {
        let key = std::fs::read_to_string(path)
            .map_err(|e| WalletError::Key(format!("{}: {e}", path.display())))?;
        Self::from_hex(&key)
    }

    /// The paying address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Signs the scheme payload answering `offer`, valid for the server's `maxTimeoutSeconds`
    /// but at most `max_timeout` seconds.
    pub fn sign(&self, offer: &Offer, max_timeout: u64) -> Result<Signed, WalletError> {
        let r = &offer.requirements;
        let chain_id = offer
            .network
            .chain_id()
            .ok_or_else(|| WalletError::Offer(format!("{} is not EVM", offer.network)))?;
        let addr = |s: &str, what: &str| {
            s.parse::<Address>()
                .map_err(|_| WalletError::Offer(format!("{what} {s:?} is not an address")))
        };
        let token = addr(&r.asset, "asset")?;
        let pay_to = addr(&r.pay_to, "payTo")?;
        let now = tollgate_proto::clock::unix_now();
        let valid_after = U256::from(now.saturating_sub(CLOCK_SKEW_SECS));
        let expires = valid_until(now, r.max_timeout_seconds, max_timeout)?;
        let deadline = U256::from(expires);
        if r.extra_str("assetTransferMethod") == Some("permit2") {
            let auth = Permit2Authorization {
                from: self.address(),
                token,
                amount: offer.amount,
                spender: EXACT_PERMIT2_PROXY,
                nonce: U256::from_be_bytes(B256::random().0),
                deadline,
                to: pay_to,
                valid_after,
            };
            let sig = sign_permit2(&self.signer, chain_id, &auth)
                .map_err(|e| WalletError::Sign(e.to_string()))?;
            return Ok(Signed {
                payload: auth.to_payload(&sig),
                proof: Proof::Permit2 {
                    chain_id,
                    owner: auth.from,
                    nonce: auth.nonce,
                    deadline: expires,
                },
                expires,
            });
        }
        let (Some(name), Some(version)) = (r.extra_str("name"), r.extra_str("version")) else {
            return Err(WalletError::Offer(
                "EIP-3009 offer lacks extra.name / extra.version".into(),
            ));
        };
        let auth = Eip3009Authorization {
            from: self.address(),
            to: pay_to,
            value: offer.amount,
            valid_after,
            valid_before: deadline,
            nonce: B256::random(),
        };
        let sig = sign_eip3009(
            &self.signer,
            &token_domain(name, version, chain_id, token),
            &auth,
        )
        .map_err(|e| WalletError::Sign(e.to_string()))?;
        Ok(Signed {
            payload: auth.to_payload(&sig),
            proof: Proof::Eip3009 {
                chain_id,
                token,
                authorizer: auth.from,
                nonce: auth.nonce,
                valid_before: expires,
            },
            expires,
        })
    }
}

/// Unix second a payment signed at `now` expires: the server's timeout, at least
/// [`MIN_TIMEOUT_SECS`] and at most `cap`, without ever overflowing.
pub(crate) fn valid_until(now: u64, requested: u64, cap: u64) -> Result<u64, WalletError> {
    let secs = requested.max(MIN_TIMEOUT_SECS).min(cap);
    now.checked_add(secs)
        .ok_or_else(|| WalletError::Offer("payment validity overflows the clock".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_proto::Network;
    use tollgate_proto::v2::PaymentRequirements;

    #[test]
    fn a_huge_server_timeout_is_capped_and_never_overflows() {
        assert_eq!(valid_until(1_000, u64::MAX, 300).unwrap(), 1_300);
        assert_eq!(valid_until(1_000, 5, 300).unwrap(), 1_030);
        assert!(valid_until(u64::MAX, u64::MAX, u64::MAX).is_err());
        let wallet = EvmWallet::from_hex(&"11".repeat(32)).unwrap();
        let offer = Offer {
            version: 2,
            requirements: PaymentRequirements {
                scheme: "exact".into(),
                network: "eip155:8453".into(),
                amount: "1".into(),
                asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913".into(),
                pay_to: "0x00000000000000000000000000000000000000bb".into(),
                max_timeout_seconds: u64::MAX,
                extra: serde_json::json!({"name": "USD Coin", "version": "2"})
                    .as_object()
                    .cloned(),
            },
            network: Network::evm(8453),
            amount: U256::from(1u8),
            resource: None,
            extensions: None,
        };
        let now = tollgate_proto::clock::unix_now();
        let signed = wallet.sign(&offer, 300).unwrap();
        assert!(signed.expires <= now + 301, "{} vs {now}", signed.expires);
        let before = signed.payload["authorization"]["validBefore"]
            .as_str()
            .unwrap();
        assert_eq!(before, signed.expires.to_string());
    }
}
