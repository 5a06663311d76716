//! `tollgate dev`: the whole local stack on 127.0.0.1 with one command: anvil with the test
//! tokens, Permit2 and the proxy; a Solana validator with a USDC-like mint; the facilitator on
//! SQLite; the demo data API; and the gateway in front of it. Every key is generated for this run and dies with it.

use std::sync::Arc;

use alloy::primitives::{B256, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tollgate_demo_api::{Demo, RouteTable};
use tollgate_devnet::{Anvil, AnvilOptions, DevEvm, anvil_binary};
use tollgate_facilitator::Doors;
use tollgate_facilitator::setup::{EvmChainConfig, FacilitatorConfig, RpcUrl, SvmChainConfig};
use tollgate_gateway::{Gateway, GatewayConfig, InProcess, Upstream, setup};
use tollgate_proto::Network;
use tollgate_solana::network_of_genesis;
use tollgate_solana::{Keypair, Signer};
use tollgate_solana_devnet::{LAMPORTS_EACH, SolanaDevnet, UsdcAccounts};

/// Chain id of the local chain.
pub const CHAIN_ID: u64 = 31337;
/// USD price of one test TMAI on the local chain.
const TMAI_USD: &str = "0.01";

/// The local Solana side: a validator, a USDC-like mint, a funded payer and the seller.
pub struct SolanaSide {
    pub devnet: SolanaDevnet,
    pub network: Network,
    pub usdc: UsdcAccounts,
}

/// A running local stack; everything stops when it is dropped.
pub struct Stack {
    pub dev: DevEvm,
    pub payer: PrivateKeySigner,
    pub solana: SolanaSide,
    pub facilitator_url: String,
    pub gateway_url: String,
    pub demo_url: String,
    tasks: Vec<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Options of `tollgate dev`.
#[derive(clap::Args)]
pub struct Args {}

/// Makes sure anvil is installed, running the project's npm install when it is not.
fn ensure_anvil() -> anyhow::Result<()> {
    if anvil_binary().is_ok() {
        return Ok(());
    }
    eprintln!(
        "anvil is not installed; installing it from npm (package @foundry-rs/anvil-linux-amd64)..."
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ok = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&root)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    anyhow::ensure!(
        ok && anvil_binary().is_ok(),
        "could not install anvil: run `scripts/setup.sh` (needs Node.js and npm)"
    );
    Ok(())
}

async fn bind() -> anyhow::Result<(TcpListener, String)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", l.local_addr()?);
    Ok((l, url))
}

/// Starts the validator and creates the mint, a payer with 1,000 USDC and the seller.
async fn start_solana() -> anyhow::Result<(SolanaSide, Keypair)> {
    let devnet = SolanaDevnet::start_async().await?;
    let genesis = devnet.rpc().get_genesis_hash().await?;
    let network = network_of_genesis(&genesis.to_string());
    let usdc = devnet.usdc_accounts(1_000_000_000).await?;
    let fee_payer = Keypair::new();
    devnet
        .fund_sol(&[fee_payer.pubkey()], LAMPORTS_EACH)
        .await?;
    Ok((
        SolanaSide {
            devnet,
            network,
            usdc,
        },
        fee_payer,
    ))
}

/// The gateway's Solana lines: the seller's wallet and the local USDC mint.
fn solana_toml(sol: &SolanaSide) -> (String, String) {
    let pay_to = format!("\"{}\" = \"{}\"\n", sol.network, sol.usdc.pay_to.pubkey());
    let asset = format!(
        r#"
[[assets]]
symbol = "USDC"
network = "{}"
address = "{}"
decimals = 6
usd_rate = "1"
"#,
        sol.network, sol.usdc.mint
    );
    (pay_to, asset)
}

fn gateway_toml(
    dev: &DevEvm,
    sol: &SolanaSide,
    upstream: &str,
    public: &str,
    facilitator: &str,
    db: &str,
) -> String {
    let (sol_pay_to, sol_asset) = solana_toml(sol);
    let evm_assets = dev.gateway_assets_toml(TMAI_USD);
    format!(
        r#"upstream = "{upstream}"
public_url = "{public}"

# The gateway runs with the facilitator in process; its HTTP URL is here for reference.
[facilitator]
url = "{facilitator}"

[pay_to]
"eip155:{CHAIN_ID}" = "{pay_to}"
{sol_pay_to}
{evm_assets}{sol_asset}
{routes}
[receipts]
database_url = "{db}"
keys_env = "DEV_RECEIPT_KEYS"
signing_key = "k1"
"#,
        pay_to = dev.pay_to,
        routes = RouteTable::demo().to_toml(),
    )
}

/// Starts the whole stack and returns once every part answers.
pub async fn start() -> anyhow::Result<Stack> {
    ensure_anvil()?;
    let (solana, anvil) = tokio::join!(
        start_solana(),
        Anvil::start(AnvilOptions {
            chain_id: CHAIN_ID,
            block_time: None,
            ..AnvilOptions::default()
        })
    );
    let anvil = anvil?;
    let usdc_each = U256::from(1_000_000_000u64); // 1,000 USDC
    let dev = DevEvm::start(anvil, 1, usdc_each)
        .await
        .context("deploying the test contracts")?;
    let payer = dev.payers[0].clone();
    let tmai_each = U256::from(100_000u64) * U256::from(10u64).pow(U256::from(18u64));
    dev.mint(dev.tmai.address, payer.address(), tmai_each)
        .await?;
    // The one-time approvals a wallet makes before paying through Permit2 (TMAI's exact
    // offers, and upto offers in either token).
    for token in [dev.tmai.address, dev.usdc.address] {
        dev.approve_permit2(&payer, token, U256::MAX).await?;
    }
    let (solana, fee_payer) = solana.context("starting the local Solana validator")?;
    let dir = tempfile::tempdir()?;
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());

    let fcfg = FacilitatorConfig {
        database_url: Some(sqlite("ledger.db")),
        evm: vec![EvmChainConfig {
            network: format!("eip155:{CHAIN_ID}"),
            rpc_url: Some(RpcUrl(dev.anvil.rpc_url.clone())),
            rpc_urls: Vec::new(),
            rpc_timeout_ms: None,
            private_key_env: Some("DEV_SETTLEMENT_KEY".into()),
            private_key_file: None,
            v1_name: None,
            receipt_poll_ms: Some(50),
            gas_limit: None,
            // The local tokens live at deployment addresses: named, not "any asset".
            assets: vec![dev.usdc.address.to_string(), dev.tmai.address.to_string()],
            pay_to: Vec::new(),
            ..Default::default()
        }],
        svm: vec![SvmChainConfig {
            network: Some(solana.network.caip2().to_string()),
            rpc_url: RpcUrl(solana.devnet.rpc_url()),
            rpc_timeout_ms: None,
            private_key_env: Some("DEV_FEE_PAYER_KEY".into()),
            assume_network: false,
            private_key_file: None,
            v1_name: Some("solana-localnet".into()),
            max_compute_unit_price: None,
            max_compute_unit_limit: None,
            assets: vec![solana.usdc.mint.to_string()],
            pay_to: Vec::new(),
        }],
        ..Default::default()
    };
    let settlement_key = alloy::hex::encode(dev.facilitator.to_bytes());
    let fee_payer_key = fee_payer.to_base58_string();
    let fenv = move |k: &str| match k {
        "DEV_SETTLEMENT_KEY" => Some(settlement_key.clone()),
        "DEV_FEE_PAYER_KEY" => Some(fee_payer_key.clone()),
        _ => None,
    };
    let f = Arc::new(tollgate_facilitator::setup::build(&fcfg, &fenv, None).await?);
    let mut tasks = Vec::new();
    let (fl, facilitator_url) = bind().await?;
    let served = f.clone();
    tasks.push(tokio::spawn(async move {
        let _ = tollgate_facilitator::serve(served, fl, Doors::default()).await;
    }));

    let (dl, demo_url) = bind().await?;
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(dl, tollgate_demo_api::router(Demo::embedded())).await;
    }));

    let (gl, gateway_url) = bind().await?;
    let gcfg = GatewayConfig::parse(&gateway_toml(
        &dev,
        &solana,
        &demo_url,
        &gateway_url,
        &facilitator_url,
        &sqlite("receipts.db"),
    ))?;
    let receipt_keys = format!("k1:{}", alloy::hex::encode(B256::random()));
    let genv = move |k: &str| (k == "DEV_RECEIPT_KEYS").then(|| receipt_keys.clone());
    let rcfg = gcfg.receipts.as_ref().context("receipts section")?;
    let receipts = setup::receipts(rcfg, &genv).await?;
    let gw = Arc::new(Gateway::new(&gcfg, Arc::new(InProcess(f)), Some(receipts)).await?);
    let upstream = Upstream::new(&demo_url, gcfg.max_body_bytes, &gcfg.upstream_timeouts)?;
    tasks.push(tokio::spawn(async move {
        let _ = tollgate_gateway::serve_proxy(gw, upstream, gl).await;
    }));
    Ok(Stack {
        dev,
        payer,
        solana,
        facilitator_url,
        gateway_url,
        demo_url,
        tasks,
        _dir: dir,
    })
}

/// Prints where everything is and how to pay, then runs until ctrl-c.
pub async fn run(_args: Args) -> anyhow::Result<()> {
    let s = start().await?;
    let key = alloy::hex::encode(s.payer.to_bytes());
    println!("Tollgate local stack is up (chain eip155:{CHAIN_ID}):");
    println!("  anvil        {}", s.dev.anvil.rpc_url);
    println!("  facilitator  {}", s.facilitator_url);
    println!("  demo API     {}  (unpaid upstream)", s.demo_url);
    println!("  gateway      {}  (pay here)", s.gateway_url);
    println!(
        "  USDC         {}  TMAI {}",
        s.dev.usdc.address, s.dev.tmai.address
    );
    println!(
        "  payer        {}  (1,000 USDC, 100,000 TMAI; test key below)",
        s.payer.address()
    );
    println!(
        "  solana       {}  ({})",
        s.solana.devnet.rpc_url(),
        s.solana.network
    );
    println!(
        "  Solana USDC  {}  payer {} (1,000 USDC)",
        s.solana.usdc.mint,
        s.solana.usdc.payer.pubkey()
    );
    println!(
        "\nTry:\n  TOLLGATE_PAYER_KEY={key} \\\n  {}",
        pay_command(&s, "/v2/trading-signals")
    );
    println!(
        "\nOr pay on Solana:\n  TOLLGATE_SVM_PAYER_KEY={} \\\n  {}",
        s.solana.usdc.payer.to_base58_string(),
        solana_pay_command(&s, "/v2/trading-signals")
    );
    println!("\nctrl-c stops everything.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// A ready `tollgate pay` line paying the stack's gateway in USDC on the local Solana chain.
pub fn solana_pay_command(s: &Stack, path: &str) -> String {
    format!(
        "tollgate pay {}{path} --max '0.1 USDC' --network {} --svm-rpc {} --token USDC={}/{}/6",
        s.gateway_url,
        s.solana.network,
        s.solana.devnet.rpc_url(),
        s.solana.network,
        s.solana.usdc.mint
    )
}

/// A ready `tollgate pay` line against the stack's gateway.
pub fn pay_command(s: &Stack, path: &str) -> String {
    format!(
        "tollgate pay {}{path} --max '0.1 USDC' --max '100 TMAI' --token USDC=eip155:{CHAIN_ID}/{}/6 --token TMAI=eip155:{CHAIN_ID}/{}/18",
        s.gateway_url, s.dev.usdc.address, s.dev.tmai.address
    )
}
