//! The payer's side: build and sign the transaction an x402 `exact` SVM payment carries, laid
//! out as the reference client does (compute limit, compute price, TransferChecked, memo).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::{VersionedMessage, v0};
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use crate::exact::serialize;
use crate::programs::{self, COMPUTE_BUDGET, MEMO};

/// Compute units the reference client requests for a transfer.
pub const DEFAULT_COMPUTE_UNIT_LIMIT: u32 = 20_000;
/// Micro-lamports per unit the reference client offers.
pub const DEFAULT_COMPUTE_UNIT_PRICE: u64 = 1;

/// One payment as the seller asked for it.
#[derive(Debug, Clone)]
pub struct PaymentOrder {
    pub mint: Pubkey,
    /// The token program that owns the mint (SPL Token or Token-2022).
    pub token_program: Pubkey,
    pub decimals: u8,
    /// The seller's wallet (the owner of the destination token account).
    pub pay_to: Pubkey,
    pub amount: u64,
    /// `extra.feePayer`: the facilitator key that pays the fee.
    pub fee_payer: Pubkey,
    /// `extra.memo`; `None` puts 16 random bytes there so equal payments stay distinct.
    pub memo: Option<String>,
}

/// The instructions of a payment by `payer`, in the scheme's order.
pub fn payment_instructions(payer: &Pubkey, order: &PaymentOrder) -> Vec<Instruction> {
    let source = programs::associated_token_address(payer, &order.mint, &order.token_program);
    let destination =
        programs::associated_token_address(&order.pay_to, &order.mint, &order.token_program);
    let mut transfer_data = vec![12];
    transfer_data.extend_from_slice(&order.amount.to_le_bytes());
    transfer_data.push(order.decimals);
    let memo = order.memo.clone().unwrap_or_else(|| {
        let nonce: [u8; 16] = rand::random();
        nonce.iter().map(|b| format!("{b:02x}")).collect()
    });
    vec![
        compute_unit_limit(DEFAULT_COMPUTE_UNIT_LIMIT),
        compute_unit_price(DEFAULT_COMPUTE_UNIT_PRICE),
        Instruction::new_with_bytes(
            order.token_program,
            &transfer_data,
            vec![
                AccountMeta::new(source, false),
                AccountMeta::new_readonly(order.mint, false),
                AccountMeta::new(destination, false),
                AccountMeta::new_readonly(*payer, true),
            ],
        ),
        Instruction::new_with_bytes(MEMO, memo.as_bytes(), vec![]),
    ]
}

/// `SetComputeUnitLimit(units)`.
pub fn compute_unit_limit(units: u32) -> Instruction {
    let mut data = vec![2];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction::new_with_bytes(COMPUTE_BUDGET, &data, vec![])
}

/// `SetComputeUnitPrice(micro_lamports)`.
pub fn compute_unit_price(micro_lamports: u64) -> Instruction {
    let mut data = vec![3];
    data.extend_from_slice(&micro_lamports.to_le_bytes());
    Instruction::new_with_bytes(COMPUTE_BUDGET, &data, vec![])
}

/// A v0 transaction with `fee_payer` first, signed by `payer` only (the fee payer signs later).
pub fn sign_partial(
    payer: &Keypair,
    fee_payer: &Pubkey,
    instructions: &[Instruction],
    recent_blockhash: Hash,
) -> VersionedTransaction {
    sign_with(&[payer], fee_payer, instructions, recent_blockhash)
}

/// A v0 transaction with `fee_payer` first; each of `signers` fills its own signature slot and
/// every other slot stays empty.
pub fn sign_with(
    signers: &[&Keypair],
    fee_payer: &Pubkey,
    instructions: &[Instruction],
    recent_blockhash: Hash,
) -> VersionedTransaction {
    let message = v0::Message::try_compile(fee_payer, instructions, &[], recent_blockhash)
        .expect("instructions without lookup tables always compile");
    let message = VersionedMessage::V0(message);
    let bytes = message.serialize();
    let slots = usize::from(message.header().num_required_signatures);
    let signatures = message.static_account_keys()[..slots]
        .iter()
        .map(|key| {
            signers
                .iter()
                .find(|s| s.pubkey() == *key)
                .map_or_else(Signature::default, |s| s.sign_message(&bytes))
        })
        .collect();
    VersionedTransaction {
        signatures,
        message,
    }
}

/// The x402 payload (`{"transaction": base64}`) for a signed payment.
pub fn payload_of(tx: &VersionedTransaction) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("transaction".into(), STANDARD.encode(serialize(tx)).into());
    m
}
