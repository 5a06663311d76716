//! The scheme's rules on their own, without a chain: one broken rule at a time, each named by
//! its reason, and a valid payment passes with the token payer as payer.

use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_signer::Signer;
use tollgate_proto::reason;
use tollgate_solana::check::{Expected, Limits, check_message};
use tollgate_solana::payer::{
    PaymentOrder, compute_unit_limit, payment_instructions, sign_partial,
};
use tollgate_solana::programs::{LIGHTHOUSE, MEMO, TOKEN, TOKEN_2022};
use tollgate_solana::{Pubkey, Transfer};

struct Case {
    payer: Keypair,
    fee_payer: Pubkey,
    order: PaymentOrder,
}

impl Case {
    fn new() -> Self {
        let fee_payer = Pubkey::new_unique();
        let order = PaymentOrder {
            mint: Pubkey::new_unique(),
            token_program: TOKEN,
            decimals: 6,
            pay_to: Pubkey::new_unique(),
            amount: 17_000,
            fee_payer,
            memo: None,
        };
        Self {
            payer: Keypair::new(),
            fee_payer,
            order,
        }
    }

    fn ixs(&self) -> Vec<Instruction> {
        payment_instructions(&self.payer.pubkey(), &self.order)
    }

    fn check(&self, ixs: &[Instruction], memo: Option<&str>) -> Result<Transfer, &'static str> {
        let tx = sign_partial(&self.payer, &self.fee_payer, ixs, Hash::default());
        let expected = Expected {
            mint: self.order.mint,
            pay_to: self.order.pay_to,
            amount: 17_000,
            memo,
        };
        check_message(
            &tx.message,
            &expected,
            |k| *k == self.fee_payer,
            &Limits::default(),
        )
        .map_err(|r| r.reason)
    }
}

#[test]
fn a_valid_payment_names_the_token_payer() {
    let c = Case::new();
    let t = c.check(&c.ixs(), None).unwrap();
    assert_eq!(t.authority, c.payer.pubkey());
    assert_eq!((t.amount, t.decimals, t.token_program), (17_000, 6, TOKEN));
    let mut ixs = c.ixs();
    ixs.push(Instruction::new_with_bytes(LIGHTHOUSE, &[1], vec![]));
    assert!(
        c.check(&ixs, None).is_ok(),
        "a wallet's Lighthouse assertion is allowed"
    );
}

#[test]
fn token_2022_destination_is_derived_with_its_own_program() {
    let mut c = Case::new();
    c.order.token_program = TOKEN_2022;
    assert_eq!(c.check(&c.ixs(), None).unwrap().token_program, TOKEN_2022);
    // A Token-2022 transfer into the classic-program ATA is not the payee's account.
    let mut ixs = c.ixs();
    let classic =
        tollgate_solana::programs::associated_token_address(&c.order.pay_to, &c.order.mint, &TOKEN);
    ixs[2].accounts[2] = AccountMeta::new(classic, false);
    assert_eq!(
        c.check(&ixs, None).unwrap_err(),
        reason::SVM_RECIPIENT_MISMATCH
    );
}

#[test]
fn each_broken_rule_names_its_reason() {
    let c = Case::new();
    let good = c.ixs();
    let cases: Vec<(&str, Vec<Instruction>, Option<&str>, &str)> = vec![
        (
            "two instructions",
            good[..2].to_vec(),
            None,
            reason::SVM_INSTRUCTIONS_LENGTH,
        ),
        (
            "limit too high",
            {
                let mut v = good.clone();
                v[0] = compute_unit_limit(1_400_000);
                v
            },
            None,
            reason::SVM_COMPUTE_LIMIT_TOO_HIGH,
        ),
        (
            "price not second",
            {
                let mut v = good.clone();
                v.swap(1, 3);
                v
            },
            None,
            reason::SVM_COMPUTE_PRICE,
        ),
        (
            "transfer not third",
            {
                let mut v = good.clone();
                v.swap(2, 3);
                v
            },
            None,
            reason::SVM_NO_TRANSFER,
        ),
        (
            "transfer with a fifth account",
            {
                let mut v = good.clone();
                v[2].accounts
                    .push(AccountMeta::new_readonly(Pubkey::new_unique(), false));
                v
            },
            None,
            reason::SVM_NO_TRANSFER,
        ),
        (
            "unknown sixth",
            {
                let mut v = good.clone();
                v.push(Instruction::new_with_bytes(MEMO, b"x", vec![]));
                v.push(Instruction::new_with_bytes(
                    Pubkey::new_unique(),
                    b"x",
                    vec![],
                ));
                v
            },
            None,
            reason::SVM_UNKNOWN_SIXTH,
        ),
        (
            "two memos for one",
            {
                let mut v = good.clone();
                v.push(Instruction::new_with_bytes(MEMO, b"x", vec![]));
                v
            },
            Some("x"),
            reason::SVM_MEMO_COUNT,
        ),
    ];
    for (what, ixs, memo, want) in cases {
        assert_eq!(c.check(&ixs, memo).unwrap_err(), want, "{what}");
    }
}
