//! The scheme's rules over a decoded transaction, in the reference order, without any I/O.
//! Stricter than the reference where the spec asks for it: the facilitator's keys may appear in
//! no instruction at all, and the compute limit is capped as well as the price.

use solana_message::VersionedMessage;
use solana_message::compiled_instruction::CompiledInstruction;
use solana_pubkey::Pubkey;
use tollgate_proto::{Rejection, reason};

use crate::programs::{self, COMPUTE_BUDGET, LIGHTHOUSE, MEMO};

/// What the fee payer is willing to pay for: the priority fee is price × limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Highest compute unit price, in micro-lamports per unit (the spec's cap is 5 lamports).
    pub max_compute_unit_price: u64,
    /// Highest compute unit limit a payment may request.
    pub max_compute_unit_limit: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_compute_unit_price: 5_000_000,
            max_compute_unit_limit: 200_000,
        }
    }
}

/// What the seller asked for.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub mint: Pubkey,
    pub pay_to: Pubkey,
    pub amount: u64,
    pub memo: Option<&'a str>,
}

/// The one token transfer a valid payment makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub token_program: Pubkey,
    pub source: Pubkey,
    pub mint: Pubkey,
    pub destination: Pubkey,
    /// The token owner who pays (never the fee payer).
    pub authority: Pubkey,
    pub amount: u64,
    pub decimals: u8,
}

/// Checks every instruction of `message`; `is_ours` says whether a key is a facilitator signer.
pub fn check_message(
    message: &VersionedMessage,
    expected: &Expected<'_>,
    is_ours: impl Fn(&Pubkey) -> bool,
    limits: &Limits,
) -> Result<Transfer, Rejection> {
    let keys = message.static_account_keys();
    let ixs = message.instructions();
    if !(3..=6).contains(&ixs.len()) {
        return Err(Rejection::new(reason::SVM_INSTRUCTIONS_LENGTH)
            .with_message(format!("{} instructions; 3 to 6 expected", ixs.len())));
    }
    let program = |ix: &CompiledInstruction| keys[usize::from(ix.program_id_index)];

    let limit = (program(&ixs[0]) == COMPUTE_BUDGET)
        .then(|| programs::compute_unit_limit(&ixs[0].data))
        .flatten()
        .ok_or_else(|| Rejection::new(reason::SVM_COMPUTE_LIMIT))?;
    if limit > limits.max_compute_unit_limit {
        return Err(
            Rejection::new(reason::SVM_COMPUTE_LIMIT_TOO_HIGH).with_message(format!(
                "{limit} compute units requested; at most {}",
                limits.max_compute_unit_limit
            )),
        );
    }
    let price = (program(&ixs[1]) == COMPUTE_BUDGET)
        .then(|| programs::compute_unit_price(&ixs[1].data))
        .flatten()
        .ok_or_else(|| Rejection::new(reason::SVM_COMPUTE_PRICE))?;
    if price > limits.max_compute_unit_price {
        return Err(
            Rejection::new(reason::SVM_COMPUTE_PRICE_TOO_HIGH).with_message(format!(
                "{price} micro-lamports per unit; at most {}",
                limits.max_compute_unit_price
            )),
        );
    }

    let transfer = transfer_of(&ixs[2], keys)?;
    let payer = transfer.authority.to_string();
    let reject = |r: &'static str| Rejection::new(r).with_payer(payer.clone());
    if is_ours(&transfer.authority) {
        return Err(reject(reason::SVM_FEE_PAYER_TRANSFERRING));
    }
    if let Some(i) = ixs.iter().position(|ix| touches(ix, keys, &is_ours)) {
        return Err(reject(reason::SVM_FEE_PAYER_IN_ACCOUNTS)
            .with_message(format!("instruction {i} names a facilitator key")));
    }
    if transfer.mint != expected.mint {
        return Err(reject(reason::SVM_MINT_MISMATCH));
    }
    let payee_ata = programs::associated_token_address(
        &expected.pay_to,
        &expected.mint,
        &transfer.token_program,
    );
    if transfer.destination != payee_ata {
        return Err(reject(reason::SVM_RECIPIENT_MISMATCH).with_message(format!(
            "destination {} is not the payTo token account {payee_ata}",
            transfer.destination
        )));
    }
    if transfer.amount != expected.amount {
        return Err(reject(reason::SVM_AMOUNT_MISMATCH).with_message(format!(
            "transfers {} but {} is required",
            transfer.amount, expected.amount
        )));
    }

    const UNKNOWN: [&str; 3] = [
        reason::SVM_UNKNOWN_FOURTH,
        reason::SVM_UNKNOWN_FIFTH,
        reason::SVM_UNKNOWN_SIXTH,
    ];
    let mut memos = Vec::new();
    for (i, ix) in ixs.iter().enumerate().skip(3) {
        match program(ix) {
            p if p == MEMO => memos.push(ix.data.as_slice()),
            p if p == LIGHTHOUSE => {}
            p => {
                return Err(reject(UNKNOWN[i - 3])
                    .with_message(format!("instruction {i} calls {p}, not Memo or Lighthouse")));
            }
        }
    }
    if let Some(memo) = expected.memo {
        match memos.as_slice() {
            [one] if *one == memo.as_bytes() => {}
            [_] => return Err(reject(reason::SVM_MEMO_MISMATCH)),
            _ => {
                return Err(reject(reason::SVM_MEMO_COUNT).with_message(format!(
                    "{} memo instructions; exactly 1 expected",
                    memos.len()
                )));
            }
        }
    }
    let signers = usize::from(message.header().num_required_signatures);
    if signers > 2 {
        return Err(reject(reason::SVM_EXCESSIVE_SIGNERS).with_message(format!(
            "{signers} signers; the fee payer and the payer expected"
        )));
    }
    if signers != 2 || keys.get(1) != Some(&transfer.authority) {
        return Err(reject(reason::SVM_TRANSACTION)
            .with_message("the transfer authority must be the transaction's second signer"));
    }
    Ok(transfer)
}

/// Decodes the third instruction as a TransferChecked with exactly its four accounts.
fn transfer_of(ix: &CompiledInstruction, keys: &[Pubkey]) -> Result<Transfer, Rejection> {
    let token_program = keys[usize::from(ix.program_id_index)];
    let decoded = programs::is_token_program(&token_program)
        .then(|| programs::transfer_checked(&ix.data))
        .flatten();
    let (Some((amount, decimals)), [source, mint, destination, authority]) =
        (decoded, ix.accounts.as_slice())
    else {
        return Err(Rejection::new(reason::SVM_NO_TRANSFER).with_message(
            "the third instruction must be TransferChecked on SPL Token or Token-2022 with 4 accounts",
        ));
    };
    let key = |i: &u8| keys[usize::from(*i)];
    Ok(Transfer {
        token_program,
        source: key(source),
        mint: key(mint),
        destination: key(destination),
        authority: key(authority),
        amount,
        decimals,
    })
}

/// Whether an instruction names a facilitator key as its program or any of its accounts.
fn touches(ix: &CompiledInstruction, keys: &[Pubkey], is_ours: &impl Fn(&Pubkey) -> bool) -> bool {
    std::iter::once(&ix.program_id_index)
        .chain(&ix.accounts)
        .any(|i| is_ours(&keys[usize::from(*i)]))
}
