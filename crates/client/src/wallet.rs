//! The payer's EVM key and the signing of one offer through `tollgate_evm::sign_payment`
//! (EIP-3009 for tokens that have it, Permit2 where `extra.assetTransferMethod` asks), within
//! the validity this client allows. With an RPC URL the wallet can also ask the chain whether a
//! payment it signed was used (see `evm_check`).

use std::path::Path;

use alloy::primitives::Address;
use alloy::providers::RootProvider;
use alloy::rpc::client::RpcClient;
use alloy::signers::local::PrivateKeySigner;
use tollgate_evm::{Authorization, SignError, Validity, sign_payment};

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
    /// but at most `max_timeout` seconds; the EVM crate picks the transfer method and signs.
    pub fn sign(&self, offer: &Offer, max_timeout: u64) -> Result<Signed, WalletError> {
        let now = tollgate_proto::clock::unix_now();
        let expires = valid_until(now, offer.requirements.max_timeout_seconds, max_timeout)?;
        let validity = Validity {
            valid_after: now.saturating_sub(CLOCK_SKEW_SECS),
            valid_before: expires,
        };
        let signed = sign_payment(&self.signer, &offer.view(), validity).map_err(|e| match e {
            SignError::Signer(e) => WalletError::Sign(e.to_string()),
            other => WalletError::Offer(other.to_string()),
        })?;
        let chain_id = signed.chain_id;
        let proof = match signed.authorization {
            Authorization::Eip3009(auth) => Proof::Eip3009 {
                chain_id,
                token: signed.token,
                authorizer: auth.from,
                nonce: auth.nonce,
                valid_before: expires,
            },
            Authorization::Permit2(auth) => Proof::Permit2 {
                chain_id,
                owner: auth.from,
                nonce: auth.nonce,
                deadline: expires,
            },
        };
        Ok(Signed {
            payload: signed.payload,
            proof,
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
    use alloy::primitives::U256;
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
