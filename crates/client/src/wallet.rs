//! The payer's EVM key and the signing of one offer: EIP-3009 for tokens that have it (USDC),
//! Permit2 for plain ERC-20s (`extra.assetTransferMethod = "permit2"`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use tollgate_evm::eip3009::token_domain;
use tollgate_evm::permit2::{EXACT_PERMIT2_PROXY, Permit2Authorization, sign_permit2};
use tollgate_evm::{Eip3009Authorization, sign_eip3009};
use tollgate_proto::v2::Object;

use crate::challenge::Offer;

/// Seconds the authorization is valid before now, to absorb clock skew (the SDKs use 600).
const CLOCK_SKEW_SECS: u64 = 600;

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

/// An EVM payer key; its Debug output shows the address only.
pub struct EvmWallet {
    signer: PrivateKeySigner,
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
        Ok(Self { signer })
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

    /// Signs the scheme payload answering `offer`.
    pub fn sign(&self, offer: &Offer) -> Result<Object, WalletError> {
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
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let valid_after = U256::from(now.saturating_sub(CLOCK_SKEW_SECS));
        let deadline = U256::from(now + r.max_timeout_seconds.max(30));
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
            return Ok(auth.to_payload(&sig));
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
        Ok(auth.to_payload(&sig))
    }
}
