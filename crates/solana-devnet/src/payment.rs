//! A funded payer, a payee and a fee payer on the local validator, and the payloads they sign:
//! what a test needs to pay over SPL, whether the facilitator runs in process or as a binary.

use anyhow::Result;
use serde_json::{Value, json};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use tollgate_proto::Network;
use tollgate_solana::payer::{PaymentOrder, payload_of, payment_instructions, sign_partial};
use tollgate_solana::{Keypair, Pubkey, network_of_genesis};

use crate::{LAMPORTS_EACH, SolanaDevnet, UsdcAccounts};

/// USDC (atomic, 6 decimals) each test payer starts with.
pub const PAYER_USDC: u64 = 10_000_000;

/// A fresh mint, payer, payee and fee payer on the shared validator.
pub struct SplPayment {
    pub devnet: &'static SolanaDevnet,
    pub accounts: UsdcAccounts,
    /// Funded with SOL; the facilitator signs as this key.
    pub fee_payer: Keypair,
    /// The cluster as the facilitator names it (by default from its genesis hash).
    pub network: Network,
}

impl SplPayment {
    /// Funds everything on the binary's shared validator, the mint under `token_program`.
    pub async fn fund_under(token_program: &Pubkey) -> Result<Self> {
        let devnet = SolanaDevnet::shared();
        let accounts = devnet
            .usdc_accounts_under(token_program, PAYER_USDC)
            .await?;
        let fee_payer = Keypair::new();
        devnet
            .fund_sol(&[fee_payer.pubkey()], LAMPORTS_EACH)
            .await?;
        let genesis = devnet.rpc().get_genesis_hash().await?;
        Ok(Self {
            devnet,
            accounts,
            fee_payer,
            network: network_of_genesis(&genesis.to_string()),
        })
    }

    /// A valid order of `amount` from the test payer to the test payee.
    pub fn order(&self, amount: u64) -> PaymentOrder {
        PaymentOrder {
            mint: self.accounts.mint,
            token_program: self.accounts.token_program,
            decimals: 6,
            pay_to: self.accounts.pay_to.pubkey(),
            amount,
            fee_payer: self.fee_payer.pubkey(),
            memo: None,
        }
    }

    /// The payer's signed transaction for `order`, on a fresh blockhash.
    pub async fn sign(&self, order: &PaymentOrder) -> VersionedTransaction {
        let ixs = payment_instructions(&self.accounts.payer.pubkey(), order);
        self.sign_instructions(&ixs).await
    }

    /// The payer's signature over arbitrary instructions, fee payer first.
    pub async fn sign_instructions(
        &self,
        ixs: &[solana_instruction::Instruction],
    ) -> VersionedTransaction {
        let blockhash = self
            .devnet
            .rpc()
            .get_latest_blockhash()
            .await
            .expect("blockhash");
        sign_partial(
            &self.accounts.payer,
            &self.fee_payer.pubkey(),
            ixs,
            blockhash,
        )
    }

    /// v2 requirements for `amount` (with `extra.feePayer` and an optional memo).
    pub fn requirements(&self, amount: u64, memo: Option<&str>) -> Value {
        let mut extra = json!({"feePayer": self.fee_payer.pubkey().to_string()});
        if let Some(m) = memo {
            extra["memo"] = json!(m);
        }
        json!({"scheme": "exact", "network": self.network.caip2(), "amount": amount.to_string(),
            "asset": self.accounts.mint.to_string(), "payTo": self.accounts.pay_to.pubkey().to_string(),
            "maxTimeoutSeconds": 60, "extra": extra})
    }

    /// A v2 `/verify` or `/settle` body carrying `tx` against `requirements`.
    pub fn v2(&self, tx: &VersionedTransaction, requirements: &Value) -> Value {
        json!({"x402Version": 2,
            "paymentPayload": {"x402Version": 2, "resource": {"url": "http://127.0.0.1/data"},
                "accepted": requirements, "payload": payload_of(tx)},
            "paymentRequirements": requirements})
    }

    /// A v1 body (network named by its CAIP-2 id, which v1 resolution accepts).
    pub fn v1(&self, tx: &VersionedTransaction, amount: u64) -> Value {
        let req = json!({"scheme": "exact", "network": self.network.caip2(), "maxAmountRequired": amount.to_string(),
            "resource": "http://127.0.0.1/data", "description": "test", "mimeType": "application/json",
            "payTo": self.accounts.pay_to.pubkey().to_string(), "maxTimeoutSeconds": 60,
            "asset": self.accounts.mint.to_string(), "extra": {"feePayer": self.fee_payer.pubkey().to_string()}});
        json!({"x402Version": 1,
            "paymentPayload": {"x402Version": 1, "scheme": "exact", "network": self.network.caip2(), "payload": payload_of(tx)},
            "paymentRequirements": req})
    }

    /// USDC balance of `owner`.
    pub async fn usdc(&self, owner: &Pubkey) -> u64 {
        self.devnet
            .token_balance(&self.accounts.mint, owner)
            .await
            .expect("balance")
    }

    /// Balances of payer and payee.
    pub async fn balances(&self) -> (u64, u64) {
        (
            self.usdc(&self.accounts.payer.pubkey()).await,
            self.usdc(&self.accounts.pay_to.pubkey()).await,
        )
    }

    /// The fee payer's SOL, which drops only when a settlement is sent.
    pub async fn fee_payer_lamports(&self) -> u64 {
        self.devnet
            .lamports(&self.fee_payer.pubkey())
            .await
            .expect("lamports")
    }
}
