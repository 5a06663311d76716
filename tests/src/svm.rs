//! Solana test environment: the binary's shared local validator, a fresh mint and wallets per
//! test, and a facilitator whose fee payer is a fresh key, on a real ledger.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use solana_signer::Signer;
use tollgate_facilitator::{Facilitator, SvmExactScheme};
use tollgate_proto::Network;
use tollgate_solana::payer::{PaymentOrder, payload_of, payment_instructions, sign_partial};
use tollgate_solana::programs::TOKEN;
use tollgate_solana::{ClusterName, Keypair, Limits, Pubkey, SolanaChain};
use tollgate_solana_devnet::{LAMPORTS_EACH, SolanaDevnet, UsdcAccounts};

use crate::{Api, Db, TestDb};

pub use solana_transaction::versioned::VersionedTransaction;

/// USDC (atomic, 6 decimals) each test payer starts with.
pub const PAYER_USDC: u64 = 10_000_000;

/// A facilitator settling SPL payments on the local validator.
pub struct SvmEnv {
    pub devnet: &'static SolanaDevnet,
    pub accounts: UsdcAccounts,
    pub fee_payer: Keypair,
    pub network: Network,
    pub facilitator: Arc<Facilitator>,
    pub api: Api,
    pub db: TestDb,
}

/// `env.post(..)`: the facilitator's HTTP API.
impl std::ops::Deref for SvmEnv {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl SvmEnv {
    /// Starts everything; `None` when the database kind is not available here.
    pub async fn start(db: Db) -> Option<Self> {
        Self::start_named(db, ClusterName::FromGenesis).await
    }

    /// Starts everything, the facilitator naming the local cluster as `name` says.
    pub async fn start_named(db: Db, name: ClusterName) -> Option<Self> {
        Self::launch(db, name, &TOKEN).await
    }

    /// Starts everything with the test mint under `token_program` (e.g. Token-2022).
    pub async fn start_under(db: Db, token_program: &Pubkey) -> Option<Self> {
        Self::launch(db, ClusterName::FromGenesis, token_program).await
    }

    async fn launch(db: Db, name: ClusterName, token_program: &Pubkey) -> Option<Self> {
        let db = TestDb::create(db).await?;
        let devnet = SolanaDevnet::shared();
        let accounts = devnet
            .usdc_accounts_under(token_program, PAYER_USDC)
            .await
            .expect("accounts");
        let fee_payer = Keypair::new();
        devnet
            .fund_sol(&[fee_payer.pubkey()], LAMPORTS_EACH)
            .await
            .expect("fund fee payer");
        let chain = SolanaChain::connect(&devnet.rpc_url(), vec![fee_payer.insecure_clone()], name)
            .await
            .expect("cluster connects");
        let facilitator =
            Arc::new(Self::facilitator_on(chain, &db.url, Duration::from_secs(20)).await);
        let network = Network::from_caip2(&facilitator.supported().kinds[0].network)
            .expect("the facilitator names its cluster");
        let api = Api::serve(facilitator.clone()).await;
        Some(Self {
            devnet,
            accounts,
            fee_payer,
            network,
            facilitator,
            api,
            db,
        })
    }

    /// A facilitator paying fees with `fee_payer`, over the given ledger, not yet serving.
    pub async fn facilitator(
        devnet: &SolanaDevnet,
        fee_payer: Keypair,
        db_url: &str,
        receipt_timeout: Duration,
    ) -> Facilitator {
        let chain =
            SolanaChain::connect(&devnet.rpc_url(), vec![fee_payer], ClusterName::FromGenesis)
                .await
                .expect("cluster connects");
        Self::facilitator_on(chain, db_url, receipt_timeout).await
    }

    async fn facilitator_on(
        chain: SolanaChain,
        db_url: &str,
        receipt_timeout: Duration,
    ) -> Facilitator {
        let scheme = SvmExactScheme::new(Arc::new(chain), Limits::default());
        crate::facilitator_with(Arc::new(scheme), db_url, receipt_timeout).await
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
