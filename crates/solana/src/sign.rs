//! The payer's side of `exact` on Solana in one call: read the requirement, the mint (once per
//! mint) and a fresh blockhash, and sign the transfer in the reference layout with the fee
//! payer's slot left empty, so a wallet never lays out the transaction itself.

use std::collections::HashMap;
use std::sync::Mutex;

use solana_client::nonblocking::rpc_client::RpcClient;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use tollgate_proto::RequirementsView;
use tollgate_proto::v2::Object;

use crate::payer::{PaymentOrder, payload_of, payment_instructions, sign_partial};
use crate::programs::is_token_program;

/// Byte offset of `decimals` in an SPL mint account.
const MINT_DECIMALS_OFFSET: usize = 44;

/// Mint → (token program, decimals), read once: both are fixed for a mint's life.
#[derive(Debug, Default)]
pub struct MintBook {
    mints: Mutex<HashMap<Pubkey, (Pubkey, u8)>>,
}

impl MintBook {
    /// The token program that owns `mint` and its decimals, from the cache or the chain.
    async fn get(&self, rpc: &RpcClient, mint: &Pubkey) -> Result<(Pubkey, u8), SignError> {
        if let Some(info) = self.mints.lock().expect("mints lock").get(mint) {
            return Ok(*info);
        }
        let account = rpc
            .get_account(mint)
            .await
            .map_err(|e| SignError::Mint(format!("mint {mint}: {e}")))?;
        let decimals = *account
            .data
            .get(MINT_DECIMALS_OFFSET)
            .ok_or_else(|| SignError::Mint(format!("{mint} is not a mint")))?;
        if !is_token_program(&account.owner) {
            return Err(SignError::Mint(format!(
                "{mint} is not owned by a token program"
            )));
        }
        let info = (account.owner, decimals);
        self.mints.lock().expect("mints lock").insert(*mint, info);
        Ok(info)
    }
}

/// An `exact` SVM payment signed by the payer, with what it needs to ask the chain about it.
#[derive(Debug, Clone)]
pub struct SignedPayment {
    /// The scheme `payload` object (`{"transaction": base64}`).
    pub payload: Object,
    /// The payer's own signature, which the landed transaction will carry.
    pub signature: Signature,
    /// Slot at which the blockhash was read: the transaction cannot land before it.
    pub slot: u64,
    /// Block height past which the blockhash, and so the payment, can no longer land.
    pub last_valid_block_height: u64,
}

/// Why a requirement could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("Solana offer lacks extra.feePayer")]
    MissingFeePayer,
    #[error("{what} {value:?} is not a Solana address")]
    Address { what: &'static str, value: String },
    #[error("amount is over an SPL token's u64")]
    Amount,
    /// The mint could not be read, or is no token mint.
    #[error("{0}")]
    Mint(String),
    #[error("blockhash: {0}")]
    Blockhash(String),
    #[error("the payer did not sign")]
    Unsigned,
}

/// Signs the `exact` payment `requirements` ask for with `payer`, reading the mint (through
/// `mints`) and a fresh blockhash from `rpc`; the fee payer named in `extra.feePayer` co-signs.
pub async fn sign_payment(
    payer: &Keypair,
    requirements: &RequirementsView<'_>,
    rpc: &RpcClient,
    mints: &MintBook,
) -> Result<SignedPayment, SignError> {
    let r = requirements;
    let key = |value: &str, what| {
        value.parse::<Pubkey>().map_err(|_| SignError::Address {
            what,
            value: value.into(),
        })
    };
    let fee_payer = r.extra_str("feePayer").ok_or(SignError::MissingFeePayer)?;
    let mint = key(r.asset, "asset")?;
    let (token_program, decimals) = mints.get(rpc, &mint).await?;
    let order = PaymentOrder {
        mint,
        token_program,
        decimals,
        pay_to: key(r.pay_to, "payTo")?,
        amount: u64::try_from(r.amount).map_err(|_| SignError::Amount)?,
        fee_payer: key(fee_payer, "extra.feePayer")?,
        memo: r.extra_str("memo").map(str::to_string),
    };
    let latest = rpc
        .get_latest_blockhash_with_commitment_and_context(rpc.commitment())
        .await
        .map_err(|e| SignError::Blockhash(e.to_string()))?;
    let (blockhash, last_valid_block_height) = latest.value;
    let ixs = payment_instructions(&payer.pubkey(), &order);
    let tx = sign_partial(payer, &order.fee_payer, &ixs, blockhash);
    let signature = *tx
        .signatures
        .iter()
        .find(|s| s.as_ref().iter().any(|b| *b != 0))
        .ok_or(SignError::Unsigned)?;
    Ok(SignedPayment {
        payload: payload_of(&tx),
        signature,
        slot: latest.context.slot,
        last_valid_block_height,
    })
}
