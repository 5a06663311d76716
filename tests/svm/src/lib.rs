//! Solana test environment: the binary's shared local validator, a fresh mint and wallets per
//! test, and a facilitator whose fee payer is a fresh key, on a real ledger.

use std::sync::Arc;
use std::time::Duration;

pub use solana_transaction::versioned::VersionedTransaction;
use tollgate_e2e::{Api, Db, TestDb, facilitator_with};
use tollgate_facilitator::{Facilitator, SvmExactScheme};
use tollgate_proto::Network;
use tollgate_solana::programs::TOKEN;
use tollgate_solana::{ClusterName, Keypair, Limits, Pubkey, SolanaChain};
pub use tollgate_solana_devnet::{PAYER_USDC, SolanaDevnet, SplPayment};

/// A facilitator settling SPL payments on the local validator, served over HTTP.
pub struct SvmEnv {
    /// The wallets and payloads; `env.order(..)` etc. reach them through `Deref`.
    pub pay: SplPayment,
    pub facilitator: Arc<Facilitator>,
    /// The facilitator's HTTP API.
    pub api: Api,
    pub db: TestDb,
}

impl std::ops::Deref for SvmEnv {
    type Target = SplPayment;
    fn deref(&self) -> &SplPayment {
        &self.pay
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
        let mut pay = SplPayment::fund_under(token_program)
            .await
            .expect("wallets funded");
        let chain = SolanaChain::connect(
            &pay.devnet.rpc_url(),
            vec![pay.fee_payer.insecure_clone()],
            name,
        )
        .await
        .expect("cluster connects");
        let facilitator =
            Arc::new(Self::facilitator_on(chain, &db.url, Duration::from_secs(20)).await);
        pay.network = Network::from_caip2(&facilitator.supported().kinds[0].network)
            .expect("the facilitator names its cluster");
        let api = Api::serve(facilitator.clone()).await;
        Some(Self {
            pay,
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
        facilitator_with(Arc::new(scheme), db_url, receipt_timeout).await
    }
}
