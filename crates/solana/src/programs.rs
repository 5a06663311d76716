//! The programs an x402 SVM payment may touch, and strict decoders for the few instructions
//! the scheme allows (data lengths are checked exactly: trailing bytes are a different call).

use solana_pubkey::Pubkey;

/// The classic SPL Token program.
pub const TOKEN: Pubkey = Pubkey::from_str_const("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// The Token-2022 program; TransferChecked has the same layout as on SPL Token.
pub const TOKEN_2022: Pubkey =
    Pubkey::from_str_const("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
/// The compute budget program (unit limit and unit price).
pub const COMPUTE_BUDGET: Pubkey =
    Pubkey::from_str_const("ComputeBudget111111111111111111111111111111");
/// The SPL Memo program (v2), which carries `extra.memo` or the payment's random nonce.
pub const MEMO: Pubkey = Pubkey::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
/// Lighthouse, whose assertion instructions some wallets append.
pub const LIGHTHOUSE: Pubkey =
    Pubkey::from_str_const("L2TExMFKdjpN9kozasaurPirfHy9P8sbXoAN1qA3S95");

const SET_COMPUTE_UNIT_LIMIT: u8 = 2;
const SET_COMPUTE_UNIT_PRICE: u8 = 3;
const TRANSFER_CHECKED: u8 = 12;

/// Whether `program` is one of the two token programs.
pub fn is_token_program(program: &Pubkey) -> bool {
    *program == TOKEN || *program == TOKEN_2022
}

/// `SetComputeUnitLimit(units)`, or `None` for any other data.
pub fn compute_unit_limit(data: &[u8]) -> Option<u32> {
    match data {
        [SET_COMPUTE_UNIT_LIMIT, rest @ ..] => Some(u32::from_le_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// `SetComputeUnitPrice(micro_lamports)`, or `None` for any other data.
pub fn compute_unit_price(data: &[u8]) -> Option<u64> {
    match data {
        [SET_COMPUTE_UNIT_PRICE, rest @ ..] => Some(u64::from_le_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// `TransferChecked { amount, decimals }`, or `None` for any other data.
pub fn transfer_checked(data: &[u8]) -> Option<(u64, u8)> {
    match data {
        [TRANSFER_CHECKED, rest @ ..] if rest.len() == 9 => {
            Some((u64::from_le_bytes(rest[..8].try_into().ok()?), rest[8]))
        }
        _ => None,
    }
}

/// The associated token account of `owner` for `mint` under `token_program`.
pub fn associated_token_address(owner: &Pubkey, mint: &Pubkey, token_program: &Pubkey) -> Pubkey {
    spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
        owner,
        mint,
        token_program,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_refuse_wrong_lengths_and_tags() {
        assert_eq!(compute_unit_limit(&[2, 0x20, 0x4e, 0, 0]), Some(20_000));
        assert_eq!(compute_unit_limit(&[2, 0x20, 0x4e, 0]), None);
        assert_eq!(compute_unit_limit(&[3, 0x20, 0x4e, 0, 0]), None);
        assert_eq!(compute_unit_price(&[3, 1, 0, 0, 0, 0, 0, 0, 0]), Some(1));
        assert_eq!(compute_unit_price(&[3, 1, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        let mut t = vec![12];
        t.extend_from_slice(&17_000u64.to_le_bytes());
        t.push(6);
        assert_eq!(transfer_checked(&t), Some((17_000, 6)));
        t.push(0);
        assert_eq!(transfer_checked(&t), None);
        assert_eq!(transfer_checked(&[3]), None);
    }

    #[test]
    fn ids_match_the_interface_crates() {
        assert_eq!(TOKEN, spl_token_interface::ID);
        assert_eq!(
            spl_token_interface::instruction::transfer_checked(
                &TOKEN,
                &Pubkey::new_unique(),
                &Pubkey::new_unique(),
                &Pubkey::new_unique(),
                &Pubkey::new_unique(),
                &[],
                5,
                6
            )
            .unwrap()
            .data,
            [vec![12], 5u64.to_le_bytes().to_vec(), vec![6]].concat()
        );
    }
}
