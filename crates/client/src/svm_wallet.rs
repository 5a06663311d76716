//! The payer's Solana key and the signing of one `exact` SVM offer through
//! `tollgate_solana::sign_payment`: the reference layout over a fresh blockhash, whose last
//! valid block height bounds how long the payment can land (see `svm_check`).

use std::path::Path;

use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_signer::Signer;
use tollgate_solana::{Keypair, MintBook, Pubkey, SignError, sign_payment};

use crate::challenge::Offer;
use crate::outstanding::{Proof, Signed};
use crate::wallet::WalletError;

/// A local-clock guess of a blockhash's life (150 blocks); the chain's height decides.
const BLOCKHASH_LIFE_SECS: u64 = 120;

/// A Solana payer key and the RPC it reads mints and blockhashes from; Debug shows the address.
pub struct SvmWallet {
    key: Keypair,
    pub(crate) rpc: RpcClient,
    /// The mints already read (their program and decimals never change).
    mints: MintBook,
}

impl std::fmt::Debug for SvmWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SvmWallet({})", self.key.pubkey())
    }
}

impl SvmWallet {
    /// A wallet from key text (base58 or a JSON byte array) and a JSON-RPC URL.
    pub fn from_text(key: &str, rpc_url: &str) -> Result<Self, WalletError> {
        let key = tollgate_solana::keys::parse_keypair(key).map_err(WalletError::Key)?;
        Ok(Self {
            key,
            rpc: RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed()),
            mints: MintBook::default(),
        })
    }

    /// A wallet from a keygen JSON file.
    pub fn from_file(path: &Path, rpc_url: &str) -> Result<Self, WalletError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WalletError::Key(format!("{}: {e}", path.display())))?;
        Self::from_text(&text, rpc_url)
    }

    /// The paying address.
    pub fn address(&self) -> Pubkey {
        self.key.pubkey()
    }

    /// Signs the `{"transaction": ...}` payload answering `offer` through the Solana crate.
    pub async fn sign(&self, offer: &Offer) -> Result<Signed, WalletError> {
        let signed = sign_payment(&self.key, &offer.view(), &self.rpc, &self.mints)
            .await
            .map_err(|e| match e {
                SignError::Blockhash(_) | SignError::Unsigned => WalletError::Sign(e.to_string()),
                other => WalletError::Offer(other.to_string()),
            })?;
        let now = tollgate_proto::clock::unix_now();
        Ok(Signed {
            payload: signed.payload,
            proof: Proof::Solana {
                network: offer.network.caip2().to_string(),
                payer: self.key.pubkey().to_string(),
                signature: signed.signature.to_string(),
                slot: signed.slot,
                last_valid_block_height: signed.last_valid_block_height,
            },
            expires: now.saturating_add(BLOCKHASH_LIFE_SECS),
        })
    }
}
