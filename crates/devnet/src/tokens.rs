//! Test tokens deployed from the committed artifacts in `contracts/out/`, and funded accounts.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;
use anyhow::{Context, anyhow};

use crate::anvil::Anvil;

const TEST_USDC: &str = include_str!("../../../contracts/out/TestUSDC.json");

alloy::sol! {
    #[sol(rpc)]
    interface ITestToken {
        function mint(address to, uint256 amount) external;
        function balanceOf(address account) external view returns (uint256);
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
    }
}

/// A deployed test token.
#[derive(Debug, Clone)]
pub struct TestToken {
    pub address: Address,
    /// EIP-712 domain name.
    pub name: String,
    /// EIP-712 domain version.
    pub version: String,
    pub decimals: u8,
}

fn creation_code(artifact: &str) -> anyhow::Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_str(artifact)?;
    let hex = v["bytecode"]
        .as_str()
        .ok_or_else(|| anyhow!("artifact has no bytecode"))?;
    Ok(alloy::hex::decode(hex)?)
}

/// Deploys a 6-decimal EIP-3009 USDC with the given EIP-712 domain, owned by `deployer`.
pub async fn deploy_test_usdc(
    rpc_url: &str,
    deployer: &PrivateKeySigner,
    name: &str,
    version: &str,
) -> anyhow::Result<TestToken> {
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer.clone()))
        .connect_http(rpc_url.parse()?);
    let mut code = creation_code(TEST_USDC)?;
    code.extend((name.to_string(), version.to_string()).abi_encode_params());
    let tx = TransactionRequest::default().with_deploy_code(Bytes::from(code));
    let receipt = provider.send_transaction(tx).await?.get_receipt().await?;
    let address = receipt
        .contract_address
        .context("deployment produced no contract")?;
    Ok(TestToken {
        address,
        name: name.into(),
        version: version.into(),
        decimals: 6,
    })
}

/// A local EVM chain with test USDC deployed and accounts funded with ETH and tokens.
pub struct DevEvm {
    pub anvil: Anvil,
    pub usdc: TestToken,
    /// Owns the token contracts and mints.
    pub deployer: PrivateKeySigner,
    /// Signs settlements; funded with ETH only.
    pub facilitator: PrivateKeySigner,
    /// Payers with ETH and USDC.
    pub payers: Vec<PrivateKeySigner>,
    /// Receives payments; starts empty.
    pub pay_to: Address,
}

impl DevEvm {
    /// Starts anvil, deploys test USDC ("USD Coin" / "2"), and funds `payers` accounts with
    /// `usdc_each` atomic units.
    pub async fn start(anvil: Anvil, payers: usize, usdc_each: U256) -> anyhow::Result<Self> {
        let deployer = PrivateKeySigner::random();
        let facilitator = PrivateKeySigner::random();
        let payers: Vec<_> = (0..payers).map(|_| PrivateKeySigner::random()).collect();
        let pay_to = PrivateKeySigner::random().address();
        let provider = anvil.provider();
        let eth = U256::from(1000u64) * U256::from(10u64).pow(U256::from(18u64));
        for a in [deployer.address(), facilitator.address()]
            .into_iter()
            .chain(payers.iter().map(|p| p.address()))
        {
            provider
                .raw_request::<_, ()>("anvil_setBalance".into(), (a, eth))
                .await?;
        }
        let usdc = deploy_test_usdc(&anvil.rpc_url, &deployer, "USD Coin", "2").await?;
        let me = Self {
            anvil,
            usdc,
            deployer,
            facilitator,
            payers,
            pay_to,
        };
        for p in me.payers.iter().map(|p| p.address()).collect::<Vec<_>>() {
            me.mint(me.usdc.address, p, usdc_each).await?;
        }
        Ok(me)
    }

    /// Mints `amount` of `token` to `to`, waiting for the receipt.
    pub async fn mint(&self, token: Address, to: Address, amount: U256) -> anyhow::Result<()> {
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(self.deployer.clone()))
            .connect_http(self.anvil.rpc_url.parse()?);
        let t = ITestToken::new(token, provider);
        let receipt = t.mint(to, amount).send().await?.get_receipt().await?;
        anyhow::ensure!(receipt.status(), "mint reverted");
        Ok(())
    }

    /// Token balance of `who`.
    pub async fn balance(&self, token: Address, who: Address) -> anyhow::Result<U256> {
        let t = ITestToken::new(token, self.anvil.provider());
        Ok(t.balanceOf(who).call().await?)
    }

    /// How many transactions `who` has sent (its account nonce).
    pub async fn tx_count(&self, who: Address) -> anyhow::Result<u64> {
        Ok(self.anvil.provider().get_transaction_count(who).await?)
    }
}
