//! The payer's Solana key and the signing of one `exact` SVM offer: the reference layout, with
//! the mint's program and decimals read from the chain (once per mint) and a fresh blockhash,
//! whose last valid block height bounds how long the payment can land (see `svm_check`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_signer::Signer;
use tollgate_solana::payer::{PaymentOrder, payload_of, payment_instructions, sign_partial};
use tollgate_solana::programs::is_token_program;
use tollgate_solana::{Keypair, Pubkey};

use crate::challenge::Offer;
use crate::outstanding::{Proof, Signed};
use crate::wallet::WalletError;

/// Byte offset of `decimals` in an SPL mint account.
const MINT_DECIMALS_OFFSET: usize = 44;
/// A local-clock guess of a blockhash's life (150 blocks); the chain's height decides.
const BLOCKHASH_LIFE_SECS: u64 = 120;

/// A Solana payer key and the RPC it reads mints and blockhashes from; Debug shows the address.
pub struct SvmWallet {
    key: Keypair,
    pub(crate) rpc: RpcClient,
    /// Mint → (token program, decimals): fixed for a mint's life.
    mints: Mutex<HashMap<Pubkey, (Pubkey, u8)>>,
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
            mints: Mutex::default(),
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

    /// Signs the `{"transaction": ...}` payload answering `offer`.
    pub async fn sign(&self, offer: &Offer) -> Result<Signed, WalletError> {
        let r = &offer.requirements;
        let key = |s: &str, what: &str| {
            s.parse::<Pubkey>()
                .map_err(|_| WalletError::Offer(format!("{what} {s:?} is not a Solana address")))
        };
        let fee_payer = r
            .extra_str("feePayer")
            .ok_or_else(|| WalletError::Offer("Solana offer lacks extra.feePayer".into()))?;
        let mint = key(&r.asset, "asset")?;
        let (token_program, decimals) = self.mint_info(&mint).await?;
        let order = PaymentOrder {
            mint,
            token_program,
            decimals,
            pay_to: key(&r.pay_to, "payTo")?,
            amount: u64::try_from(offer.amount)
                .map_err(|_| WalletError::Offer("amount is over an SPL token's u64".into()))?,
            fee_payer: key(fee_payer, "extra.feePayer")?,
            memo: r.extra_str("memo").map(str::to_string),
        };
        let latest = self
            .rpc
            .get_latest_blockhash_with_commitment_and_context(self.rpc.commitment())
            .await
            .map_err(|e| WalletError::Sign(format!("blockhash: {e}")))?;
        let (blockhash, last_valid_block_height) = latest.value;
        let ixs = payment_instructions(&self.key.pubkey(), &order);
        let tx = sign_partial(&self.key, &order.fee_payer, &ixs, blockhash);
        let mine = tx
            .signatures
            .iter()
            .find(|s| s.as_ref().iter().any(|b| *b != 0))
            .ok_or_else(|| WalletError::Sign("the payer did not sign".into()))?;
        let now = tollgate_proto::clock::unix_now();
        Ok(Signed {
            payload: payload_of(&tx),
            proof: Proof::Solana {
                network: offer.network.caip2().to_string(),
                payer: self.key.pubkey().to_string(),
                signature: mine.to_string(),
                slot: latest.context.slot,
                last_valid_block_height,
            },
            expires: now.saturating_add(BLOCKHASH_LIFE_SECS),
        })
    }

    async fn mint_info(&self, mint: &Pubkey) -> Result<(Pubkey, u8), WalletError> {
        if let Some(info) = self.mints.lock().expect("mints lock").get(mint) {
            return Ok(*info);
        }
        let account = self
            .rpc
            .get_account(mint)
            .await
            .map_err(|e| WalletError::Offer(format!("mint {mint}: {e}")))?;
        let decimals = *account
            .data
            .get(MINT_DECIMALS_OFFSET)
            .ok_or_else(|| WalletError::Offer(format!("{mint} is not a mint")))?;
        if !is_token_program(&account.owner) {
            return Err(WalletError::Offer(format!(
                "{mint} is not owned by a token program"
            )));
        }
        let info = (account.owner, decimals);
        self.mints.lock().expect("mints lock").insert(*mint, info);
        Ok(info)
    }
}
