//! Test tokens deployed from the committed artifacts in `contracts/out/`, and funded accounts.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;
use anyhow::Context;

use crate::anvil::Anvil;
use crate::artifact::code;
use crate::permit2::{PERMIT2, install_permit2};

const TEST_USDC: &str = include_str!("../../../contracts/out/TestUSDC.json");
const TEST_TOKEN18: &str = include_str!("../../../contracts/out/TestToken18.json");
const TEST_SMART_WALLET: &str = include_str!("../../../contracts/out/TestSmartWallet.json");

alloy::sol! {
    #[sol(rpc)]
    interface ITestToken {
        function mint(address to, uint256 amount) external;
        function balanceOf(address account) external view returns (uint256);
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
        function approve(address spender, uint256 value) external returns (bool);
        function allowance(address owner, address spender) external view returns (uint256);
        function nonces(address owner) external view returns (uint256);
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

/// Deploys an artifact with ABI-encoded constructor arguments appended; returns its address.
async fn deploy(
    rpc_url: &str,
    deployer: &PrivateKeySigner,
    artifact: &str,
    args: Vec<u8>,
) -> anyhow::Result<Address> {
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer.clone()))
        .connect_http(rpc_url.parse()?);
    let mut init = code(artifact, "bytecode")?;
    init.extend(args);
    let tx = TransactionRequest::default().with_deploy_code(Bytes::from(init));
    let receipt = provider.send_transaction(tx).await?.get_receipt().await?;
    receipt
        .contract_address
        .context("deployment produced no contract")
}

/// Deploys a 6-decimal EIP-3009 USDC with the given EIP-712 domain, owned by `deployer`.
pub async fn deploy_test_usdc(
    rpc_url: &str,
    deployer: &PrivateKeySigner,
    name: &str,
    version: &str,
) -> anyhow::Result<TestToken> {
    let args = (name.to_string(), version.to_string()).abi_encode_params();
    Ok(TestToken {
        address: deploy(rpc_url, deployer, TEST_USDC, args).await?,
        name: name.into(),
        version: version.into(),
        decimals: 6,
    })
}

/// Deploys an 18-decimal EIP-2612 token without EIP-3009 (paid through Permit2).
pub async fn deploy_test_token18(
    rpc_url: &str,
    deployer: &PrivateKeySigner,
    name: &str,
    symbol: &str,
    version: &str,
) -> anyhow::Result<TestToken> {
    let args = (name.to_string(), symbol.to_string(), version.to_string()).abi_encode_params();
    Ok(TestToken {
        address: deploy(rpc_url, deployer, TEST_TOKEN18, args).await?,
        name: name.into(),
        version: version.into(),
        decimals: 18,
    })
}

/// A local EVM chain with test USDC and TMAI deployed, Permit2 and the x402 exact Permit2
/// proxy in place, and accounts funded with ETH and USDC.
pub struct DevEvm {
    pub anvil: Anvil,
    pub usdc: TestToken,
    /// 18-decimal "TMAI" (EIP-2612, no EIP-3009); nobody holds any until minted.
    pub tmai: TestToken,
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
    /// Starts anvil, deploys test USDC ("USD Coin" / "2") and TMAI ("TMAI" / "1"), places
    /// Permit2 and the proxy, and funds `payers` accounts with `usdc_each` USDC atomic units.
    pub async fn start(anvil: Anvil, payers: usize, usdc_each: U256) -> anyhow::Result<Self> {
        let deployer = PrivateKeySigner::random();
        let facilitator = PrivateKeySigner::random();
        let payers: Vec<_> = (0..payers).map(|_| PrivateKeySigner::random()).collect();
        let pay_to = PrivateKeySigner::random().address();
        let eth = U256::from(1000u64) * U256::from(10u64).pow(U256::from(18u64));
        for a in [deployer.address(), facilitator.address()]
            .into_iter()
            .chain(payers.iter().map(|p| p.address()))
        {
            anvil.set_balance(a, eth).await?;
        }
        let usdc = deploy_test_usdc(&anvil.rpc_url, &deployer, "USD Coin", "2").await?;
        let tmai = deploy_test_token18(&anvil.rpc_url, &deployer, "TMAI", "TMAI", "1").await?;
        install_permit2(&anvil).await?;
        let me = Self {
            anvil,
            usdc,
            tmai,
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

    /// `owner` approves Permit2 for `amount` of `token`, paying the gas itself.
    pub async fn approve_permit2(
        &self,
        owner: &PrivateKeySigner,
        token: Address,
        amount: U256,
    ) -> anyhow::Result<()> {
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(owner.clone()))
            .connect_http(self.anvil.rpc_url.parse()?);
        let t = ITestToken::new(token, provider);
        let receipt = t
            .approve(PERMIT2, amount)
            .send()
            .await?
            .get_receipt()
            .await?;
        anyhow::ensure!(receipt.status(), "approve reverted");
        Ok(())
    }

    /// Allowance `owner` has given Permit2 on `token`.
    pub async fn permit2_allowance(&self, token: Address, owner: Address) -> anyhow::Result<U256> {
        let t = ITestToken::new(token, self.anvil.provider());
        Ok(t.allowance(owner, PERMIT2).call().await?)
    }

    /// The EIP-2612 nonce of `owner` on `token`.
    pub async fn permit_nonce(&self, token: Address, owner: Address) -> anyhow::Result<U256> {
        let t = ITestToken::new(token, self.anvil.provider());
        Ok(t.nonces(owner).call().await?)
    }

    /// Deploys an ERC-1271 wallet owned by `owner`; returns its address.
    pub async fn deploy_smart_wallet(&self, owner: Address) -> anyhow::Result<Address> {
        deploy(
            &self.anvil.rpc_url,
            &self.deployer,
            TEST_SMART_WALLET,
            owner.abi_encode(),
        )
        .await
    }

    /// ETH balance of `who`, in wei.
    pub async fn eth_balance(&self, who: Address) -> anyhow::Result<U256> {
        Ok(self.anvil.provider().get_balance(who).await?)
    }

    /// How many transactions `who` has sent (its account nonce).
    pub async fn tx_count(&self, who: Address) -> anyhow::Result<u64> {
        Ok(self.anvil.provider().get_transaction_count(who).await?)
    }

    /// The `[[assets]]` a gateway config names for this chain's tokens: USDC and TMAI. One
    /// text for `tollgate dev` and the tests, so both configure the gateway as an operator would.
    pub fn gateway_assets_toml(&self, tmai_usd: &str) -> String {
        format!(
            "{}\n{}",
            self.usdc_asset_toml(),
            self.tmai_asset_toml(tmai_usd)
        )
    }

    /// The gateway's `[[assets]]` entry for USDC, paid through EIP-3009.
    pub fn usdc_asset_toml(&self) -> String {
        self.asset_toml("USDC", &self.usdc, "1", "", "")
    }

    /// The gateway's `[[assets]]` entry for TMAI, paid through Permit2 at `tmai_usd` dollars a
    /// token and 10% off.
    pub fn tmai_asset_toml(&self, tmai_usd: &str) -> String {
        self.asset_toml(
            "TMAI",
            &self.tmai,
            tmai_usd,
            "discount_percent = \"10\"\n",
            "assetTransferMethod = \"permit2\", ",
        )
    }

    fn asset_toml(
        &self,
        symbol: &str,
        token: &TestToken,
        usd_rate: &str,
        terms: &str,
        method: &str,
    ) -> String {
        format!(
            r#"[[assets]]
symbol = "{symbol}"
network = "eip155:{chain}"
address = "{address}"
decimals = {decimals}
usd_rate = "{usd_rate}"
{terms}extra = {{ {method}name = "{name}", version = "{version}" }}
"#,
            chain = self.anvil.chain_id,
            address = token.address.to_checksum(None),
            decimals = token.decimals,
            name = token.name,
            version = token.version,
        )
    }
}
