//! A real Solana validator in process (Agave's test validator, with the SPL programs in
//! genesis) serving JSON-RPC on 127.0.0.1, plus helpers that create a USDC-like mint (under SPL
//! Token or Token-2022) and fund wallets. Its own crate, so only what runs a local chain pays the validator's build.

use std::net::{TcpListener, UdpSocket};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_program_pack::Pack;
use solana_pubkey::Pubkey;
use solana_rpc::rpc::JsonRpcConfig;
use solana_signer::Signer;
use solana_test_validator::{TestValidator, TestValidatorGenesis};
use spl_token_2022_interface::state::Mint;
use tollgate_solana::payer::sign_with;
use tollgate_solana::programs::{TOKEN, associated_token_address};

mod payment;
pub use payment::{PAYER_USDC, SplPayment};

/// SOL given to every wallet the helpers fund: enough for years of local fees.
pub const LAMPORTS_EACH: u64 = 10_000_000_000;

/// A running local validator and the genesis key that holds its SOL.
pub struct SolanaDevnet {
    /// Always `Some` until dropped.
    validator: Option<TestValidator>,
    faucet: Keypair,
    _ledger: tempfile::TempDir,
}

/// Whether the local node keeps transaction history, as most public RPC providers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Old signatures can be looked up (the default).
    Kept,
    /// Only recent signatures are known, like a bare validator's RPC.
    NotKept,
}

/// A 6-decimal USDC-like mint with a funded payer and a payee that has its token account.
pub struct UsdcAccounts {
    pub mint: Pubkey,
    /// The token program that owns the mint: SPL Token or Token-2022.
    pub token_program: Pubkey,
    pub mint_authority: Keypair,
    /// Holds SOL and `payer_tokens` of the mint.
    pub payer: Keypair,
    /// The seller's wallet; its token account exists and is empty.
    pub pay_to: Keypair,
}

impl SolanaDevnet {
    /// Starts a validator on free ports, on a thread of its own (it runs its own runtimes);
    /// takes a few seconds.
    pub async fn start_async() -> Result<Self> {
        Self::start_async_keeping(History::Kept).await
    }

    /// As [`Self::start_async`], choosing whether the node keeps transaction history.
    pub async fn start_async_keeping(history: History) -> Result<Self> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Self::start_on_this_thread(history));
        });
        rx.await.context("validator thread died")?
    }

    /// One validator for a whole test binary: started on first use, shared by every test.
    pub fn shared() -> &'static SolanaDevnet {
        static SHARED: OnceLock<SolanaDevnet> = OnceLock::new();
        SHARED.get_or_init(|| {
            std::thread::spawn(|| Self::start_on_this_thread(History::Kept))
                .join()
                .map_err(|_| anyhow!("validator thread panicked"))
                .and_then(|r| r)
                .expect("validator starts")
        })
    }

    /// Must run outside any async runtime; a startup failure (a panic inside the validator)
    /// becomes an error.
    fn start_on_this_thread(history: History) -> Result<Self> {
        let ledger = tempfile::Builder::new()
            .prefix("tollgate-solana-ledger")
            .tempdir()?;
        let (rpc, gossip, range) = (free_port()?, free_port()?, free_range(64)?);
        let mut genesis = TestValidatorGenesis::default();
        // Transaction history lets a settlement be found long after its blockhash expired.
        genesis
            .rpc_config(JsonRpcConfig {
                enable_rpc_transaction_history: history == History::Kept,
                ..JsonRpcConfig::default_for_test()
            })
            .ledger_path(ledger.path())
            .rpc_port(rpc)
            .gossip_port(gossip)
            .port_range(range);
        // The validator library prints its start-up progress ("Waiting for first slot...") on
        // stdout, which is the user's terminal under `tollgate dev`: muted while it starts
        // (best effort: a second validator starting at the same time prints).
        let muted = gag::Gag::stdout().ok();
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| genesis.start()));
        drop(muted);
        let (validator, faucet) =
            started.map_err(|_| anyhow!("the validator failed to start (see its log above)"))?;
        wait_past_genesis(&validator)?;
        Ok(Self {
            validator: Some(validator),
            faucet,
            _ledger: ledger,
        })
    }

    /// JSON-RPC URL on 127.0.0.1.
    pub fn rpc_url(&self) -> String {
        self.validator
            .as_ref()
            .expect("validator runs until dropped")
            .rpc_url()
    }

    /// An async client at `confirmed`.
    pub fn rpc(&self) -> RpcClient {
        RpcClient::new_with_commitment(self.rpc_url(), CommitmentConfig::confirmed())
    }

    /// Sends SOL from the genesis key to each of `to`.
    pub async fn fund_sol(&self, to: &[Pubkey], lamports: u64) -> Result<()> {
        let ixs: Vec<_> = to
            .iter()
            .map(|k| {
                solana_system_interface::instruction::transfer(&self.faucet.pubkey(), k, lamports)
            })
            .collect();
        self.send(&ixs, &[&self.faucet]).await
    }

    /// Creates a mint with `decimals` under SPL Token, owned by a new authority key.
    pub async fn create_mint(&self, decimals: u8) -> Result<(Pubkey, Keypair)> {
        self.create_mint_under(&TOKEN, decimals).await
    }

    /// Creates a mint with `decimals` under `program` (SPL Token or Token-2022, no extensions),
    /// owned by a new authority key.
    pub async fn create_mint_under(
        &self,
        program: &Pubkey,
        decimals: u8,
    ) -> Result<(Pubkey, Keypair)> {
        let rpc = self.rpc();
        let mint = Keypair::new();
        let authority = Keypair::new();
        let space = Mint::LEN;
        let rent = rpc.get_minimum_balance_for_rent_exemption(space).await?;
        let ixs = [
            solana_system_interface::instruction::create_account(
                &self.faucet.pubkey(),
                &mint.pubkey(),
                rent,
                space as u64,
                program,
            ),
            spl_token_2022_interface::instruction::initialize_mint2(
                program,
                &mint.pubkey(),
                &authority.pubkey(),
                None,
                decimals,
            )?,
        ];
        self.send(&ixs, &[&self.faucet, &mint]).await?;
        Ok((mint.pubkey(), authority))
    }

    /// Creates `owner`'s token account for `mint` (if missing) and mints `amount` into it.
    pub async fn fund_tokens(
        &self,
        mint: &Pubkey,
        authority: &Keypair,
        owner: &Pubkey,
        amount: u64,
    ) -> Result<Pubkey> {
        let program = self.program_of(mint).await?;
        let ata = associated_token_address(owner, mint, &program);
        let mut ixs = vec![
            spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
                &self.faucet.pubkey(),
                owner,
                mint,
                &program,
            ),
        ];
        if amount > 0 {
            ixs.push(spl_token_2022_interface::instruction::mint_to(
                &program,
                mint,
                &ata,
                &authority.pubkey(),
                &[],
                amount,
            )?);
        }
        self.send(&ixs, &[&self.faucet, authority]).await?;
        Ok(ata)
    }

    /// A fresh 6-decimal USDC-like mint under SPL Token, a payer holding SOL and
    /// `payer_tokens`, and a payee whose token account exists.
    pub async fn usdc_accounts(&self, payer_tokens: u64) -> Result<UsdcAccounts> {
        self.usdc_accounts_under(&TOKEN, payer_tokens).await
    }

    /// As [`Self::usdc_accounts`], with the mint under `token_program`.
    pub async fn usdc_accounts_under(
        &self,
        token_program: &Pubkey,
        payer_tokens: u64,
    ) -> Result<UsdcAccounts> {
        let (mint, mint_authority) = self.create_mint_under(token_program, 6).await?;
        let payer = Keypair::new();
        let pay_to = Keypair::new();
        self.fund_sol(&[payer.pubkey(), pay_to.pubkey()], LAMPORTS_EACH)
            .await?;
        self.fund_tokens(&mint, &mint_authority, &payer.pubkey(), payer_tokens)
            .await?;
        self.fund_tokens(&mint, &mint_authority, &pay_to.pubkey(), 0)
            .await?;
        Ok(UsdcAccounts {
            mint,
            token_program: *token_program,
            mint_authority,
            payer,
            pay_to,
        })
    }

    /// Token balance (atomic units) of `owner`'s account for `mint`; 0 when it has none.
    pub async fn token_balance(&self, mint: &Pubkey, owner: &Pubkey) -> Result<u64> {
        let ata = associated_token_address(owner, mint, &self.program_of(mint).await?);
        match self.rpc().get_token_account_balance(&ata).await {
            Ok(b) => Ok(b.amount.parse()?),
            Err(_) if self.rpc().get_account(&ata).await.is_err() => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// The token program that owns `mint`.
    pub async fn program_of(&self, mint: &Pubkey) -> Result<Pubkey> {
        Ok(self.rpc().get_account(mint).await?.owner)
    }

    /// SOL balance in lamports.
    pub async fn lamports(&self, who: &Pubkey) -> Result<u64> {
        Ok(self.rpc().get_balance(who).await?)
    }

    async fn send(
        &self,
        ixs: &[solana_instruction::Instruction],
        signers: &[&Keypair],
    ) -> Result<()> {
        let rpc = self.rpc();
        let blockhash = rpc.get_latest_blockhash().await?;
        let tx = sign_with(signers, &signers[0].pubkey(), ixs, blockhash);
        rpc.send_and_confirm_transaction(&tx).await?;
        Ok(())
    }
}

/// The validator owns runtimes of its own, which may not be dropped inside an async task:
/// it stops on a plain thread, before its ledger directory is removed.
impl Drop for SolanaDevnet {
    fn drop(&mut self) {
        if let Some(v) = self.validator.take() {
            let _ = std::thread::spawn(move || drop(v)).join();
        }
    }
}

/// Waits until the `confirmed` bank, the one this crate's clients simulate against, is past
/// slot 0: the genesis bank has no slot-hashes sysvar, so it refuses every v0 transaction as
/// "Attempt to debit an account but found no record of a prior credit".
fn wait_past_genesis(validator: &TestValidator) -> Result<()> {
    let rpc = validator.get_rpc_client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match rpc.get_slot_with_commitment(CommitmentConfig::confirmed()) {
            Ok(slot) if slot > 0 => return Ok(()),
            Ok(_) | Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Ok(_) => return Err(anyhow!("no confirmed slot past genesis within 60 s")),
            Err(e) => return Err(e).context("reading the confirmed slot"),
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A run of `width` consecutive ports free for both TCP and UDP on 127.0.0.1.
fn free_range(width: u16) -> Result<(u16, u16)> {
    let free = |p: u16| {
        TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
    };
    for _ in 0..200 {
        let base = 20_000 + rand::random::<u16>() % 30_000;
        if (base..base + width).all(free) {
            return Ok((base, base + width));
        }
    }
    Err(anyhow!("no {width} free consecutive ports"))
}
