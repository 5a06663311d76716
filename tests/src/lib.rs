//! Shared harness for the end-to-end tests: a real anvil with test USDC, a real ledger
//! (SQLite file or a fresh PostgreSQL database), and the facilitator on a real TCP socket.

mod api;
mod db;
pub mod gateway;
mod pay;
mod permit2;
pub mod process;
pub mod task;
pub mod tcp_proxy;
mod terms;
pub mod wait;

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm};
use tollgate_evm::{ChainConfig, EvmChain};
use tollgate_facilitator::{Allowlist, EvmScheme, Facilitator, FacilitatorOptions, PaymentScheme};
use tollgate_proto::{Network, Verified};
use tollgate_store::Ledger;

pub use api::Api;
pub use db::{Db, TestDb};
pub use pay::{Payment, now};
pub use permit2::{Permit2Payment, Tamper, tampered, witness_tampers};
pub use terms::Terms;

/// A facilitator serving one scheme over the ledger at `db_url`, not yet serving HTTP. The
/// test tokens live at deployment addresses, so it settles any asset.
pub async fn facilitator_with(
    scheme: Arc<dyn PaymentScheme>,
    db_url: &str,
    receipt_timeout: Duration,
) -> Facilitator {
    let ledger = Ledger::connect(db_url).await.expect("ledger opens");
    Facilitator::new(
        vec![scheme],
        ledger,
        FacilitatorOptions {
            receipt_timeout,
            allow: Some(Allowlist::any_asset()),
            ..Default::default()
        },
    )
}

/// How a test environment is shaped.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    pub payers: usize,
    /// USDC (atomic) minted to each payer.
    pub usdc_each: U256,
    pub block_time: Option<u64>,
    pub receipt_timeout: Duration,
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            payers: 2,
            usdc_each: U256::from(10_000_000u64),
            block_time: None,
            receipt_timeout: Duration::from_secs(20),
        }
    }
}

/// A running facilitator over a fresh local chain and ledger.
pub struct Env {
    pub dev: DevEvm,
    pub api: Api,
    pub network: Network,
    pub facilitator: Arc<Facilitator>,
    pub db: TestDb,
}

/// `env.post(..)`, `env.url`: the facilitator's HTTP API.
impl std::ops::Deref for Env {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Env {
    /// Starts everything with defaults; `None` when the database kind is not available here.
    pub async fn start(db: Db) -> Option<Self> {
        Self::start_with(db, EnvOptions::default()).await
    }

    /// Starts everything with the given shape.
    pub async fn start_with(db: Db, opts: EnvOptions) -> Option<Self> {
        let db = TestDb::create(db).await?;
        let anvil = Anvil::start(AnvilOptions {
            chain_id: 31337,
            block_time: opts.block_time,
            ..AnvilOptions::default()
        })
        .await
        .expect("anvil starts");
        let dev = DevEvm::start(anvil, opts.payers, opts.usdc_each)
            .await
            .expect("dev chain deploys");
        let network = Network::evm(dev.anvil.chain_id);
        let facilitator = Arc::new(Self::facilitator(&dev, &db.url, opts.receipt_timeout).await);
        let api = Api::serve(facilitator.clone()).await;
        Some(Self {
            dev,
            api,
            network,
            facilitator,
            db,
        })
    }

    /// A facilitator over the dev chain and the given ledger, not yet serving.
    pub async fn facilitator(dev: &DevEvm, db_url: &str, receipt_timeout: Duration) -> Facilitator {
        Self::facilitator_signing(dev, dev.facilitator.clone(), db_url, receipt_timeout).await
    }

    /// A facilitator settling with `signer` (one key per instance: nonces are per key).
    pub async fn facilitator_signing(
        dev: &DevEvm,
        signer: PrivateKeySigner,
        db_url: &str,
        receipt_timeout: Duration,
    ) -> Facilitator {
        facilitator_with(Self::scheme(dev, signer).await, db_url, receipt_timeout).await
    }

    /// The dev chain's exact scheme, settling with `signer`.
    pub async fn scheme(dev: &DevEvm, signer: PrivateKeySigner) -> Arc<dyn PaymentScheme> {
        let network = Network::evm(dev.anvil.chain_id);
        let mut cfg = ChainConfig::new(network, dev.anvil.rpc_url.clone(), vec![signer]);
        cfg.receipt_poll = Duration::from_millis(20);
        let chain = EvmChain::connect(cfg).await.expect("chain connects");
        Arc::new(EvmScheme::new(chain))
    }

    /// A settlement that moves nothing (a 0-value call from the settlement signer to itself):
    /// all a test of nonces and sends needs.
    pub fn harmless(&self, n: u32) -> Verified {
        Verified {
            signer: None,
            identity: format!("harmless/{n}"),
            payer: "0x0".into(),
            amount: U256::ZERO,
            target: self.dev.facilitator.address().to_string(),
            data: Vec::new(),
        }
    }

    /// Payer `i`.
    pub fn payer(&self, i: usize) -> &PrivateKeySigner {
        &self.dev.payers[i]
    }

    /// A valid payment of `amount` USDC atomic units from payer `i` to the payee.
    pub fn payment(&self, i: usize, amount: u64) -> Payment {
        Payment::new(
            &self.dev,
            &self.network,
            self.payer(i).clone(),
            U256::from(amount),
        )
    }

    /// USDC balance of `who`.
    pub async fn usdc(&self, who: Address) -> U256 {
        self.dev
            .balance(self.dev.usdc.address, who)
            .await
            .expect("balance")
    }

    /// TMAI balance of `who`.
    pub async fn tmai(&self, who: Address) -> U256 {
        self.dev
            .balance(self.dev.tmai.address, who)
            .await
            .expect("balance")
    }

    /// Payer `i` holds `held` more TMAI and (optionally) has approved Permit2 for everything.
    pub async fn fund_tmai(&self, i: usize, held: U256, approve: bool) {
        let payer = self.payer(i).clone();
        if held > U256::ZERO {
            let tmai = self.dev.tmai.address;
            self.dev
                .mint(tmai, payer.address(), held)
                .await
                .expect("mint");
        }
        if approve {
            self.dev
                .approve_permit2(&payer, self.dev.tmai.address, U256::MAX)
                .await
                .expect("approve");
        }
    }

    /// Transactions the facilitator's signer has sent.
    pub async fn settlements_sent(&self) -> u64 {
        self.dev
            .tx_count(self.dev.facilitator.address())
            .await
            .expect("nonce")
    }
}

/// `whole` TMAI in atomic units (18 decimals).
pub fn tmai(whole: u64) -> U256 {
    U256::from(whole) * U256::from(10u64).pow(U256::from(18u8))
}

/// Declares one async test per ledger backend; the PostgreSQL one says it is skipped when
/// `TOLLGATE_TEST_DATABASE_URL` is unset.
///
/// `both_stores!(name, |db: Db| async move { .. })` hands the body the backend;
/// `both_stores!(name, env = Env::start, { .. })` starts what the body needs on it first
/// (`start(db)` gives `None` where the backend is not available, and the test returns).
#[macro_export]
macro_rules! both_stores {
    ($name:ident, $env:pat = $start:expr, $body:block) => {
        $crate::both_stores!($name, |db: $crate::Db| async move {
            let Some($env) = ($start)(db).await else {
                return;
            };
            $body
        });
    };
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::Db::Postgres).await
            }
        }
    };
}
